// Lets a kernel be written with tfjs ops: wraps its input infos as tensors and hands the result's data to the engine without a copy.

import * as tf from '@tensorflow/tfjs';

type TensorInfo = tf.TensorInfo;
type RefCounted = { incRef(dataId: object): void };

/** A tensor view of a kernel input. It takes its own backend reference, so disposing it leaves the input intact. */
export function asTensor(info: TensorInfo, backend: unknown): tf.Tensor {
  (backend as RefCounted).incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info);
}

/**
 * Runs `compute` in a tidy scope and returns its result as a TensorInfo the engine will own.
 * The backend reference is taken before the scope's tensor is released, so the data moves to the kernel's output
 * instead of staying alive (and counted) until the caller's scope ends.
 */
export function kernelResult(backend: unknown, compute: () => tf.Tensor): TensorInfo {
  const result = tf.tidy(compute);
  const info = { dataId: result.dataId, shape: result.shape, dtype: result.dtype };
  (backend as RefCounted).incRef(result.dataId);
  result.dispose();
  return info;
}
