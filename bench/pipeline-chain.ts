// The benchmark's full chain, shared by the throughput run and the memory child process.

import type { Batch } from '../src/data/samples.ts';
import { Quarantine } from '../src/stream/quarantine.ts';
import type { StageContext } from '../src/stream/stage.ts';
import { flow } from '../src/stream/stage.ts';
import { augment } from '../stages/augment.ts';
import { batch } from '../stages/batch.ts';
import { decode } from '../stages/decode.ts';
import { fp16Cast } from '../stages/fp16-cast.ts';
import { normalize } from '../stages/normalize.ts';
import { type PrefetchStats, prefetch } from '../stages/prefetch.ts';
import { render } from '../stages/render.ts';
import { resize } from '../stages/resize.ts';
import { folderSource } from '../stages/source-folder.ts';

/** Streams the folder `cycles` times through source → … → prefetch into a consumer that only reads; returns images seen. */
export async function runChain(folder: string, cycles = 1): Promise<{ images: number; prefetch: PrefetchStats }> {
  const dataset = folderSource(folder);
  const cycled = async function* (context: StageContext) {
    for (let cycle = 0; cycle < cycles; cycle++) yield* dataset(context);
  };
  const queue = prefetch({ maxBytes: 64 * 2 ** 20 });
  const batches = flow(cycled, { epoch: 0, quarantine: new Quarantine() })
    .pipe(decode())
    .pipe(resize({ size: 600 }))
    .pipe(augment({ seed: 1 }))
    .pipe(render())
    .pipe(normalize({ preset: 'imagenet' }))
    .pipe(fp16Cast())
    .pipe(batch({ size: 8 }))
    .pipe(queue);
  let images = 0;
  let checksum = 0;
  for await (const b of batches as AsyncIterable<Batch>) {
    images += b.shape[0];
    checksum += b.x[b.x.length - 1]; // read the batch, as a trainer would
    b.release?.();
  }
  if (Number.isNaN(checksum)) throw new Error('unreachable');
  return { images, prefetch: queue.stats };
}

// Run as a child process: prints its peak RSS, so each measurement starts from a fresh heap.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [folder, cycles] = [process.argv[2], Number(process.argv[3] ?? 1)];
  const { images } = await runChain(folder, cycles);
  process.stdout.write(`${JSON.stringify({ images, peakRssKiB: process.resourceUsage().maxRSS })}\n`);
}
