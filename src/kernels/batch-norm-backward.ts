// Training-mode BatchNorm's backward pass on wasm in one kernel call instead of about sixteen, with no full-size temporary
// but dx: compiled SIMD (src/kernels/assembly/batch-norm-backward.ts) in the lean backward pass's operation order, so the
// results differ from its tfjs ops by rounding at most. A registered kernel, so that the engine tracks and profiles its
// outputs (the planner's measured peaks see dx).

import * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput, withScratch } from './compiled-kernels.ts';
import type { BatchNormGradients } from './webgpu/batch-norm-backward.ts';

export const batchNormBackwardKernel = 'StreamfitBatchNormBackward';

interface Attrs {
  varianceEpsilon: number;
  inputGradient: boolean;
}

export const batchNormBackwardConfig: tf.KernelConfig = {
  kernelName: batchNormBackwardKernel,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, x, mean, variance, scale } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { varianceEpsilon, inputGradient } = attrs as unknown as Attrs;
    const channels = x!.shape[x!.shape.length - 1];
    const size = tf.util.sizeFromShape(x!.shape);
    const perChannel = [mean!, variance!, scale].every(
      (info) => !info || (info.dtype === 'float32' && tf.util.sizeFromShape(info.shape) === channels),
    );
    if (x!.dtype !== 'float32' || dy!.dtype !== 'float32' || size === 0 || !tf.util.arraysEqual(x!.shape, dy!.shape) || !perChannel)
      throw new Error(
        `${batchNormBackwardKernel}: needs float32 dy and x of one shape with elements and per-channel statistics, got dy ${dy!.dtype} [${dy!.shape}], x ${x!.dtype} [${x!.shape}]`,
      );
    const dx = inputGradient ? makeOutput(backend, x!.shape) : undefined;
    const [dScale, dOffset] = [makeOutput(backend, [channels]), makeOutput(backend, [channels])];
    withScratch(backend, channels * 36, (scratch) =>
      compiledKernels(backend).batchNormBackward(
        addressOf(backend, dy!),
        addressOf(backend, x!),
        addressOf(backend, mean!),
        addressOf(backend, variance!),
        scale ? addressOf(backend, scale) : 0,
        dx ? addressOf(backend, dx) : 0,
        addressOf(backend, dScale),
        addressOf(backend, dOffset),
        scratch,
        size / channels,
        channels,
        varianceEpsilon,
      ),
    );
    return dx ? [dScale, dOffset, dx] : [dScale, dOffset];
  },
};

/**
 * The gradients of y = γ·x̂ + β for `dy`, from the layer input `x` and the batch `mean` and `variance` of the forward pass,
 * on wasm (fusesOnWasm). `gamma` undefined means a scale of 1. Disposes nothing it is given.
 */
export function batchNormBackwardWasm(
  dy: tf.Tensor,
  x: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  gamma: tf.Tensor | undefined,
  epsilon: number,
  withInputGradient: boolean,
): BatchNormGradients {
  const inputs: tf.NamedTensorMap = gamma ? { dy, x, mean, variance, scale: gamma } : { dy, x, mean, variance };
  const attrs: Attrs = { varianceEpsilon: epsilon, inputGradient: withInputGradient };
  const [dGamma, dBeta, dx] = tf.engine().runKernel(batchNormBackwardKernel, inputs, attrs as never) as tf.Tensor[];
  return { dx, dGamma: dGamma as tf.Tensor1D, dBeta: dBeta as tf.Tensor1D };
}
