// Turns a batch's contiguous host array (float32, binary16 or uint8) into a float32 input tensor.

import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/samples.ts';
import { bytesToFloatWebgpu } from '../kernels/webgpu/unpack-bytes.ts';
import { fromFloat16Array } from '../math/fp16.ts';

/** Rows [start, end) of the batch as float32 tensors: inputs N×H×W×C and int32 labels. */
export function batchTensors(batch: Batch, start = 0, end = batch.shape[0]): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const [, height, width, channels] = batch.shape;
  const sampleLength = height * width * channels;
  const rows = batch.x.subarray(start * sampleLength, end * sampleLength);
  const shape: [number, number, number, number] = [end - start, height, width, channels];
  // On webgpu the bytes go up as they are and widen on the GPU: a quarter of the upload, and no host conversion.
  const x =
    batch.dtype === 'uint8' && tf.getBackend() === 'webgpu'
      ? (bytesToFloatWebgpu(rows as Uint8Array, shape) as tf.Tensor4D)
      : tf.tensor4d(hostValues(batch.dtype, rows), shape, 'float32');
  return { x, y: tf.tensor1d(batch.y.subarray(start, end), 'int32') };
}

/** The rows as float32 on the host: widened from binary16 or uint8, or the float32 rows themselves (no copy). */
function hostValues(dtype: Batch['dtype'], rows: Batch['x']): Float32Array {
  if (dtype === 'float16') return fromFloat16Array(rows as Uint16Array);
  return dtype === 'uint8' ? new Float32Array(rows) : (rows as Float32Array);
}
