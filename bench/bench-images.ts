// Writes N photograph-like 1600×1200 JPEGs (smooth shapes, gradients and fine noise; not flat colour) for benchmarks.

import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { drawFixture, fixtureClasses } from '../scripts/make-fixtures.ts';

export async function writeBenchImages(folder: string, count: number): Promise<void> {
  for (const className of fixtureClasses.slice(0, 2)) mkdirSync(join(folder, className), { recursive: true });
  // Each image depends only on its index, so writing several at once changes nothing but the wait.
  const limit = pLimit(availableParallelism());
  await Promise.all(Array.from({ length: count }, (_, i) => limit(() => writeBenchImage(folder, i))));
}

async function writeBenchImage(folder: string, i: number): Promise<void> {
  const className = fixtureClasses[i % 2];
  // Drawn small with per-pixel noise, then enlarged: soft edges and texture, about the entropy of a camera JPEG.
  const small = drawFixture(className, i, 400, 300);
  const grain = await sharp({
    create: { width: 1600, height: 1200, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 12 } },
  })
    .raw()
    .toBuffer();
  await sharp(small, { raw: { width: 400, height: 300, channels: 3 } })
    .resize(1600, 1200, { kernel: 'cubic' })
    .composite([{ input: grain, raw: { width: 1600, height: 1200, channels: 3 }, blend: 'soft-light' }])
    .jpeg({ quality: 90 })
    .toFile(join(folder, className, `image-${String(i).padStart(5, '0')}.jpg`));
}
