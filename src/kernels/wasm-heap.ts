// Direct access to tensors on the wasm heap, for kernels written as plain loops (no copies in or out).

import type * as tf from '@tensorflow/tfjs';

interface WasmBackendHeap {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/** Allocates the output first (allocation may grow the heap and detach older views), then views every tensor. */
export function heapViews(
  backend: unknown,
  outputShape: number[],
  inputs: tf.TensorInfo[],
): { output: tf.TensorInfo; outputView: Float32Array; inputViews: Float32Array[] } {
  const heap = backend as WasmBackendHeap;
  const output = heap.makeOutput(outputShape, 'float32');
  return { output, outputView: heap.typedArrayFromHeap(output), inputViews: inputs.map((input) => heap.typedArrayFromHeap(input)) };
}
