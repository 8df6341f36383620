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

/** The padded, strided window of x that filter tap (row, column) sees for every output position: [N, outH, outW, C]. */
export function tapWindow(paddedX: tf.Tensor4D, row: number, column: number, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const [n, , , channels] = paddedX.shape;
  const begin = [0, row, column, 0];
  const end = [n, row + (info.outHeight - 1) * info.strideHeight + 1, column + (info.outWidth - 1) * info.strideWidth + 1, channels];
  if (info.strideHeight === 1 && info.strideWidth === 1) return tf.slice(paddedX, begin, [n, info.outHeight, info.outWidth, channels]);
  return tf.stridedSlice(paddedX, begin, end, [1, info.strideHeight, info.strideWidth, 1]) as tf.Tensor4D;
}

/** x padded as the convolution pads it, with enough rows and columns for every tap window. */
export function padForConvolution(x: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { top, left } = info.padInfo;
  const neededHeight = (info.outHeight - 1) * info.strideHeight + info.filterHeight;
  const neededWidth = (info.outWidth - 1) * info.strideWidth + info.filterWidth;
  const bottom = Math.max(0, neededHeight - info.inHeight - top);
  const right = Math.max(0, neededWidth - info.inWidth - left);
  if (top === 0 && left === 0 && bottom === 0 && right === 0) return x;
  return tf.pad(x, [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ]);
}
