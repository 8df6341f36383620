// A micro-batch in shared memory: copied once on the main thread, read by a worker without a copy, and kept by the main
// thread until its window is reduced, so a worker that dies can have its share computed again.

import type { Batch } from '../../data/samples.ts';

/** What a worker receives: the pixels and labels in one SharedArrayBuffer, with the batch's shape and element type. */
export interface SharedBatch {
  buffer: SharedArrayBuffer;
  shape: Batch['shape'];
  dtype: Batch['dtype'];
  /** Bytes of the inputs; the int32 labels follow them, 4-byte aligned. */
  inputBytes: number;
}

export function toSharedBatch(batch: Batch): SharedBatch {
  const inputBytes = batch.x.byteLength;
  const labelsAt = alignedLabels(inputBytes);
  const buffer = new SharedArrayBuffer(labelsAt + batch.y.byteLength);
  new Uint8Array(buffer, 0, inputBytes).set(new Uint8Array(batch.x.buffer, batch.x.byteOffset, inputBytes));
  new Int32Array(buffer, labelsAt, batch.y.length).set(batch.y);
  return { buffer, shape: [...batch.shape], dtype: batch.dtype, inputBytes };
}

/** The batch a worker's trainer steps on: views over the shared memory (nothing copied). */
export function fromSharedBatch(shared: SharedBatch): Batch {
  const { buffer, dtype, inputBytes } = shared;
  const x =
    dtype === 'uint8'
      ? new Uint8Array(buffer, 0, inputBytes)
      : dtype === 'float16'
        ? new Uint16Array(buffer, 0, inputBytes / 2)
        : new Float32Array(buffer, 0, inputBytes / 4);
  const y = new Int32Array(buffer, alignedLabels(inputBytes), shared.shape[0]);
  return { x, y, keys: [], shape: shared.shape, dtype, bytes: inputBytes + y.byteLength } as Batch;
}

function alignedLabels(inputBytes: number): number {
  return Math.ceil(inputBytes / 4) * 4;
}
