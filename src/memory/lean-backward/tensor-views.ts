// Small tensor helpers the lean backward pass shares: views that cost no memory, sums back to a broadcast operand's shape,
// and a per-channel affine map as one kernel.

import * as tf from '@tensorflow/tfjs';

/** Backends whose data carries a reference count (`incRef`), so that a handle can be made without running a kernel. */
const countsReferences = new Set(['wasm', 'cpu', 'webgpu']);

/**
 * A second handle on the same data. Disposing either handle leaves the other intact. Where the backend counts references
 * the handle is made directly, as its Reshape kernel does: a step takes ~800 of them, and a kernel call costs several
 * microseconds of bookkeeping. Elsewhere a Reshape, which shares the data buffer on every backend (tf.clone copies it on wasm).
 */
export function share(tensor: tf.Tensor): tf.Tensor {
  const backend = tf.backend();
  // The data must be on the current backend (a tensor made before a backend switch moves on its first kernel).
  const owner = (tf.engine() as unknown as EngineInternals).state.tensorInfo.get(tensor.dataId)?.backend;
  if (!countsReferences.has(tf.getBackend()) || owner !== backend) return tf.reshape(tensor, tensor.shape);
  (backend as unknown as { incRef(dataId: tf.DataId): void }).incRef(tensor.dataId);
  return tf.engine().makeTensorFromTensorInfo({ dataId: tensor.dataId, shape: tensor.shape, dtype: tensor.dtype });
}

interface EngineInternals {
  state: { tensorInfo: { get(dataId: tf.DataId): { backend: tf.KernelBackend } | undefined } };
}

/** Sums a gradient over the axes along which `shape` was broadcast to the gradient's shape (as tfjs' binary-op gradients do). */
export function sumToShape(gradient: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(gradient.shape, shape)) return gradient;
  const axes = tf.backend_util.getReductionAxes(shape, gradient.shape);
  const summed = axes.length > 0 ? tf.sum(gradient, axes) : gradient;
  const reshaped = tf.reshape(summed, shape);
  if (summed !== gradient) summed.dispose();
  gradient.dispose();
  return reshaped;
}

/**
 * x · scale + offset per channel (last axis). As mul then add: wasm's FusedBatchNorm kernel, which would do it in one pass,
 * takes about seven times as long. Disposes nothing it was given.
 */
export function channelAffine(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor): tf.Tensor {
  const scaled = tf.mul(x, scale);
  return after(scaled, () => tf.add(scaled, offset));
}

/** `compute`'s result, with `used` disposed afterwards: for chains of full-size ops where each tensor should go once it is used. */
export function after<T>(used: Array<tf.Tensor | undefined> | tf.Tensor, compute: () => T): T {
  try {
    return compute();
  } finally {
    for (const tensor of [used].flat()) tensor?.dispose();
  }
}
