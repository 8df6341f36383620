// BatchNorm's batch mean and variance over all axes but the last on wasm, in one kernel call instead of tf.moments' six
// (Mean, Cast, Reshape, Sub, Square, Mean) and no full-size temporary: compiled SIMD (src/kernels/assembly/batch-norm-moments.ts)
// with tf.moments' numbers on wasm. A registered kernel, so that the engine tracks and profiles its outputs like any op's.

import * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput, withScratch } from './compiled-kernels.ts';

export const channelMomentsKernel = 'StreamfitChannelMoments';

export const channelMomentsConfig: tf.KernelConfig = {
  kernelName: channelMomentsKernel,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const x = inputs.x as tf.TensorInfo;
    const channels = x.shape[x.shape.length - 1];
    const size = tf.util.sizeFromShape(x.shape);
    if (x.dtype !== 'float32' || x.shape.length === 0 || size === 0)
      throw new Error(`${channelMomentsKernel}: needs a float32 tensor with elements, got ${x.dtype} [${x.shape}]`);
    const [mean, variance] = [makeOutput(backend, [channels]), makeOutput(backend, [channels])];
    withScratch(backend, channels * 12, (scratch) =>
      compiledKernels(backend).channelMoments(
        addressOf(backend, x),
        addressOf(backend, mean),
        addressOf(backend, variance),
        scratch,
        size / channels,
        channels,
      ),
    );
    return [mean, variance];
  },
};

/** tf.moments(x, every axis but the last) on wasm, for a float32 x (fusesOnWasm): the same numbers in one kernel call. */
export function channelMomentsWasm(x: tf.Tensor): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const [mean, variance] = tf.engine().runKernel(channelMomentsKernel, { x }) as tf.Tensor1D[];
  return { mean, variance };
}
