// Batch: packs samples into one contiguous N×H×W×C typed array, applying each sample's normalization table (and pending flip) on the way.

import { applyTableFloat16, applyTableFloat32, applyTableUint8 } from '../src/data/apply-table.ts';
import type { Batch, ElementType, TabulatedSample } from '../src/data/samples.ts';
import { DataError } from '../src/errors.ts';
import { BufferPool, type PooledArray } from '../src/stream/buffer-pool.ts';
import { boolean, wholeFrom } from '../src/stream/options.ts';
import { describedStage, type Stage } from '../src/stream/stage.ts';

export interface BatchOptions {
  size: number;
  /** Drop a last batch smaller than `size`, unless it is the only one (a stream shorter than a batch still yields it). Default false. */
  dropLast?: boolean;
  /** Where batch arrays come from; a consumer that calls `batch.release()` makes them reused. Default: a pool of 4 spares. */
  pool?: BufferPool;
}

const arrayTypes = { float32: Float32Array, float16: Uint16Array, uint8: Uint8Array } satisfies Record<ElementType, unknown>;

export function batch(options: BatchOptions): Stage<TabulatedSample, Batch> {
  const size = wholeFrom('batch', 'size', options?.size, 1);
  const dropLast = boolean('batch', 'dropLast', options?.dropLast ?? false);
  const pool = options?.pool ?? new BufferPool();
  const info = {
    name: 'batch',
    options: { size, dropLast },
    memory: { items: 1, what: `batch of ${size} being written (plus pooled spares)` },
  };
  return describedStage(info, async function* (source) {
    let packer: BatchPacker | undefined;
    let yielded = false;
    for await (const sample of source) {
      packer ??= new BatchPacker(sample, size, pool);
      // Each sample is written as it arrives, so the main thread never blocks for a whole batch at once.
      packer.add(sample);
      if (packer.count === size) {
        yield packer.finish();
        yielded = true;
        packer = undefined;
      }
    }
    // Dropping the only batch would leave an epoch with nothing to train on: a small dataset trains on a partial batch.
    if (packer && (!dropLast || !yielded)) yield packer.finish();
    else packer?.discard();
  });
}

/** Packs samples in a list into one batch (for tests and callers without a stream). */
export function packBatch(samples: TabulatedSample[], pool = new BufferPool()): Batch {
  const packer = new BatchPacker(samples[0], samples.length, pool);
  for (const sample of samples) packer.add(sample);
  return packer.finish();
}

class BatchPacker {
  private readonly x: PooledArray;
  private readonly y: Int32Array;
  private readonly keys: string[] = [];
  private readonly first: TabulatedSample;
  private readonly sampleLength: number;

  constructor(
    first: TabulatedSample,
    capacity: number,
    private readonly pool: BufferPool,
  ) {
    this.first = first;
    this.sampleLength = first.width * first.height * 3;
    this.x = pool.acquire(arrayTypes[first.dtype] as new (length: number) => PooledArray, capacity * this.sampleLength);
    this.y = new Int32Array(capacity);
  }

  get count(): number {
    return this.keys.length;
  }

  add(sample: TabulatedSample): void {
    const { width, height, dtype } = this.first;
    if (sample.width !== width || sample.height !== height || sample.dtype !== dtype) {
      throw new DataError(
        sample.origin,
        `is ${sample.width}x${sample.height} ${sample.dtype}, but the batch is ${width}x${height} ${dtype} (add a resize stage)`,
      );
    }
    const offset = this.count * this.sampleLength;
    const mirrorWidth = sample.mirror ? width : 0;
    const { x } = this;
    if (x instanceof Uint16Array) applyTableFloat16(sample.pixels, sample.table as Uint16Array, x, offset, mirrorWidth);
    else if (x instanceof Float32Array) applyTableFloat32(sample.pixels, sample.table as Float32Array, x, offset, mirrorWidth);
    else applyTableUint8(sample.pixels, sample.table as Uint8Array, x, offset, mirrorWidth);
    this.y[this.count] = sample.classIndex;
    this.keys.push(sample.key);
  }

  /** Gives the batch array back to the pool when the batch is not yielded. */
  discard(): void {
    this.pool.release(this.x);
  }

  finish(): Batch {
    const n = this.count;
    const full = n * this.sampleLength === this.x.length;
    const x = full ? this.x : this.x.slice(0, n * this.sampleLength);
    if (!full) this.pool.release(this.x);
    const y = n === this.y.length ? this.y : this.y.slice(0, n);
    const { width, height, dtype } = this.first;
    const pool = this.pool;
    return {
      x,
      y,
      keys: this.keys,
      shape: [n, height, width, 3],
      dtype,
      bytes: x.byteLength + y.byteLength,
      release: () => pool.release(x),
    };
  }
}
