// FusedBatchNorm for wasm with per-channel statistics (BatchNorm over the last axis, training or inference): compiled SIMD
// (src/kernels/assembly/batch-norm.ts). tfjs-wasm's own kernel computes broadcast indices per element and takes ~25× as long
// as an elementwise product; other shapes still go to it.

import * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput, withScratch } from './compiled-kernels.ts';

export function batchNormalizeConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { x, mean, variance, offset, scale } = inputs as Record<string, tf.TensorInfo | undefined>;
      const channels = x!.shape[x!.shape.length - 1];
      // Statistics of shape [C] or [1, …, 1, C]: one value per channel of the last axis.
      const perChannel = (info: tf.TensorInfo | undefined) =>
        info === undefined ||
        (info.dtype === 'float32' && tf.util.sizeFromShape(info.shape) === channels && info.shape[info.shape.length - 1] === channels);
      const covered = x!.dtype === 'float32' && channels > 0 && mean && variance && [mean, variance, offset, scale].every(perChannel);
      if (!covered) return original.kernelFunc(args);
      const output = makeOutput(backend, x!.shape);
      const rows = tf.util.sizeFromShape(x!.shape) / channels;
      withScratch(backend, channels * 8, (factors) =>
        compiledKernels(backend).batchNormalize(
          addressOf(backend, x!),
          addressOf(backend, output),
          addressOf(backend, mean),
          addressOf(backend, variance),
          scale ? addressOf(backend, scale) : 0,
          offset ? addressOf(backend, offset) : 0,
          factors,
          rows,
          channels,
          (attrs as unknown as { varianceEpsilon: number }).varianceEpsilon,
        ),
      );
      return output;
    },
  };
}

/**
 * tf.batchNorm over the last axis with per-channel statistics as one FusedBatchNorm call (tf.batchNorm adds a reshape or
 * two): on wasm the compiled kernel above. `scale` undefined means 1.
 */
export function batchNormalizeByChannel(
  x: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  offset: tf.Tensor,
  scale: tf.Tensor | undefined,
  epsilon: number,
): tf.Tensor {
  const inputs: tf.NamedTensorMap = scale ? { x, mean, variance, offset, scale } : { x, mean, variance, offset };
  return tf.engine().runKernel('FusedBatchNorm', inputs, { varianceEpsilon: epsilon }) as tf.Tensor;
}
