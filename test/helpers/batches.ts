// Synthetic batches for trainer tests: deterministic pixels and labels, in any element type.

import type { Batch } from '../../src/data/samples.ts';
import { toFloat16Array } from '../../src/math/fp16.ts';
import { seededRandom } from '../../src/math/random.ts';

export function syntheticBatch(size: number, imageSize: number, classes: number, seed: number, dtype: Batch['dtype'] = 'uint8'): Batch {
  const random = seededRandom('batch', seed);
  const length = size * imageSize * imageSize * 3;
  const bytes = Uint8Array.from({ length }, () => Math.floor(random() * 256));
  const x = dtype === 'uint8' ? bytes : dtype === 'float16' ? toFloat16Array(bytes) : Float32Array.from(bytes);
  const y = Int32Array.from({ length: size }, () => Math.floor(random() * classes));
  return {
    x,
    y,
    keys: Array.from({ length: size }, (_, i) => `s${seed}-${i}`),
    shape: [size, imageSize, imageSize, 3],
    dtype,
    bytes: x.byteLength + y.byteLength,
  };
}

/** Rows [start, end) of a batch as a batch of their own. */
export function sliceBatch(batch: Batch, start: number, end: number): Batch {
  const sampleLength = batch.shape[1] * batch.shape[2] * 3;
  const x = batch.x.slice(start * sampleLength, end * sampleLength);
  const y = batch.y.slice(start, end);
  return {
    ...batch,
    x,
    y,
    keys: batch.keys.slice(start, end),
    shape: [end - start, batch.shape[1], batch.shape[2], 3],
    bytes: x.byteLength + y.byteLength,
  };
}
