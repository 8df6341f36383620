// Batch: packs samples into one contiguous N×H×W×C typed array, applying each sample's normalization table on the way.

import { DataError } from '../src/errors.ts';
import type { Batch, ElementType, TabulatedSample } from '../src/data/samples.ts';
import type { Stage } from '../src/stream/stage.ts';

export interface BatchOptions {
  size: number;
  /** Drop a last batch smaller than `size`. Default false. */
  dropLast?: boolean;
}

export function batch(options: BatchOptions): Stage<TabulatedSample, Batch> {
  const { size, dropLast = false } = options;
  return async function* (source) {
    let pending: TabulatedSample[] = [];
    for await (const sample of source) {
      pending.push(sample);
      if (pending.length === size) {
        yield packBatch(pending);
        pending = [];
      }
    }
    if (pending.length > 0 && !dropLast) yield packBatch(pending);
  };
}

const arrayTypes = { float32: Float32Array, float16: Uint16Array, uint8: Uint8Array } satisfies Record<ElementType, unknown>;

export function packBatch(samples: TabulatedSample[]): Batch {
  const { width, height, dtype } = samples[0];
  const sampleLength = width * height * 3;
  const x = new arrayTypes[dtype](samples.length * sampleLength);
  const y = new Int32Array(samples.length);
  samples.forEach((sample, n) => {
    if (sample.width !== width || sample.height !== height || sample.dtype !== dtype) {
      throw new DataError(sample.origin, `is ${sample.width}x${sample.height} ${sample.dtype}, but the batch is ${width}x${height} ${dtype} (add a resize stage)`);
    }
    applyTable(sample.pixels, sample.table, x, n * sampleLength);
    y[n] = sample.classIndex;
  });
  return { x, y, keys: samples.map((sample) => sample.key), shape: [samples.length, height, width, 3], dtype, bytes: x.byteLength + y.byteLength };
}

/** out[offset + i] = table[channel(i) * 256 + pixels[i]] for interleaved RGB. */
function applyTable(pixels: Uint8Array, table: ArrayLike<number>, out: { [index: number]: number }, offset: number): void {
  for (let i = 0, o = offset; i < pixels.length; i += 3, o += 3) {
    out[o] = table[pixels[i]];
    out[o + 1] = table[256 + pixels[i + 1]];
    out[o + 2] = table[512 + pixels[i + 2]];
  }
}
