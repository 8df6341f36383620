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
  const y = tf.tensor1d(batch.y.subarray(start, end), 'int32');
  // On webgpu the bytes go up as they are and widen on the GPU: a quarter of the upload, and no host conversion.
  if (batch.dtype === 'uint8' && tf.getBackend() === 'webgpu')
    return { x: bytesToFloatWebgpu(rows as Uint8Array, shape) as tf.Tensor4D, y };
  const values =
    batch.dtype === 'float16'
      ? fromFloat16Array(rows as Uint16Array)
      : batch.dtype === 'uint8'
        ? new Float32Array(rows)
        : (rows as Float32Array);
  return { x: tf.tensor4d(values, shape, 'float32'), y };
}
