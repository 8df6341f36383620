// Writes N photograph-like 1600×1200 JPEGs (smooth shapes, gradients and fine noise; not flat colour) for benchmarks.

import sharp from 'sharp';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { drawFixture, fixtureClasses } from '../scripts/make-fixtures.ts';

export async function writeBenchImages(folder: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const className = fixtureClasses[i % 2];
    mkdirSync(join(folder, className), { recursive: true });
    // Drawn small with per-pixel noise, then enlarged: soft edges and texture, about the entropy of a camera JPEG.
    const small = drawFixture(className, i, 400, 300);
    const grain = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 12 } } })
      .raw()
      .toBuffer();
    await sharp(small, { raw: { width: 400, height: 300, channels: 3 } })
      .resize(1600, 1200, { kernel: 'cubic' })
      .composite([{ input: grain, raw: { width: 1600, height: 1200, channels: 3 }, blend: 'soft-light' }])
      .jpeg({ quality: 90 })
      .toFile(join(folder, className, `image-${String(i).padStart(5, '0')}.jpg`));
  }
}
