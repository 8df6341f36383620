// Benchmark: the full data chain against sharp's decode + resize alone (the ceiling), and host memory as the dataset grows 10×.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fg from 'fast-glob';
import sharp from 'sharp';
import { heapFlags } from '../src/config/heap-flags.ts';
import { orderedMap } from '../src/stream/ordered-map.ts';
import { writeBenchImages } from './bench-images.ts';
import { runChain } from './pipeline-chain.ts';

export interface PipelineBenchResult {
  bench: 'pipeline';
  machine: { cpus: number; model: string; node: string; nodeFlags: string[]; sharp: string };
  images: number;
  imagesPerSec: number;
  ceilingImagesPerSec: number;
  ceilingConcurrency: number;
  ratio: number;
  /** Process CPU time (all threads) per image: steadier than throughput on a shared machine, and shows where the gap is. */
  cpuMsPerImage: { ceiling: number; chain: number };
  rssMiB: { small: number; large: number; ratio: number };
}

interface Rate {
  rate: number;
  cpuMsPerImage: number;
}

async function ceiling(files: string[], concurrency: number): Promise<Rate> {
  const clock = startClock();
  const work = orderedMap(
    (async function* () {
      yield* files;
    })(),
    (file) => sharp(file).resize(600, 600).raw().toBuffer(),
    { concurrency },
  );
  for await (const _ of work);
  return clock.stop(files.length);
}

function startClock() {
  const start = performance.now();
  const cpu = process.cpuUsage();
  return {
    stop(images: number): Rate {
      const used = process.cpuUsage(cpu);
      return { rate: images / ((performance.now() - start) / 1000), cpuMsPerImage: (used.user + used.system) / 1000 / images };
    },
  };
}

function peakRssMiB(folder: string, cycles: number): number {
  const chain = fileURLToPath(new URL('./pipeline-chain.ts', import.meta.url));
  const output = execFileSync(process.execPath, [...heapFlags(), '--import', 'tsx', chain, folder, String(cycles)], { encoding: 'utf8' });
  return JSON.parse(output.trim().split('\n').pop()!).peakRssKiB / 1024;
}

export async function benchPipeline(options: { images: number; log?: (line: string) => void }): Promise<PipelineBenchResult> {
  const log = options.log ?? (() => {});
  const folder = mkdtempSync(join(tmpdir(), 'streamfit-bench-'));
  try {
    log(`writing ${options.images} 1600x1200 JPEGs to ${folder}`);
    await writeBenchImages(folder, options.images);
    const files = (await fg('**/*.jpg', { cwd: folder, absolute: true })).sort();
    await ceiling(files.slice(0, 8), 2); // warm-up: libvips caches and thread pool

    let best = { rate: 0, cpuMsPerImage: 0, concurrency: 1 };
    for (const concurrency of [1, 2, 4, 8]) {
      const measured = await ceiling(files, concurrency);
      log(`ceiling: sharp decode+resize at concurrency ${concurrency}: ${measured.rate.toFixed(1)} images/s`);
      if (measured.rate > best.rate) best = { ...measured, concurrency };
    }
    const clock = startClock();
    const { images } = await runChain(folder);
    const chain = clock.stop(images);
    const rate = chain.rate;
    log(
      `full chain: ${rate.toFixed(1)} images/s, ${chain.cpuMsPerImage.toFixed(2)} CPU ms an image (ceiling ${best.cpuMsPerImage.toFixed(2)})`,
    );
    // Measure the ceiling once more after the chain and keep the better, so a noisy moment cannot flatter the ratio.
    const again = await ceiling(files, best.concurrency);
    if (again.rate > best.rate) best = { ...again, concurrency: best.concurrency };

    const small = peakRssMiB(folder, 1);
    const large = peakRssMiB(folder, 10);
    log(`peak RSS: ${small.toFixed(0)} MiB for ${options.images} images, ${large.toFixed(0)} MiB for ${10 * options.images}`);
    return {
      bench: 'pipeline',
      machine: {
        cpus: availableParallelism(),
        model: cpus()[0]?.model ?? 'unknown',
        node: process.version,
        nodeFlags: heapFlags(),
        sharp: sharp.versions.sharp ?? '',
      },
      images,
      imagesPerSec: round(rate),
      ceilingImagesPerSec: round(best.rate),
      ceilingConcurrency: best.concurrency,
      ratio: round(rate / best.rate, 3),
      cpuMsPerImage: { ceiling: round(best.cpuMsPerImage, 2), chain: round(chain.cpuMsPerImage, 2) },
      rssMiB: { small: round(small), large: round(large), ratio: round(large / small, 3) },
    };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

function round(value: number, digits = 1): number {
  return Number(value.toFixed(digits));
}
