// BatchNorm's moving mean and variance updated on wasm in one compiled call, in place (src/kernels/assembly/batch-norm-moving.ts),
// instead of six kernel calls per layer and step; bit for bit the float32 result of tfjs-layers' ops
// (src/models/layers.ts updateMovingStatistics).

import * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels } from './compiled-kernels.ts';
import { ownData } from './fused-update.ts';

/** Moves `movingMean` and `movingVariance` towards the batch statistics with tfjs' `momentum`, in place (float32, on wasm). */
export function updateMovingStatisticsWasm(
  movingMean: tf.Variable,
  movingVariance: tf.Variable,
  mean: tf.Tensor,
  variance: tf.Tensor,
  momentum: number,
): void {
  const channels = movingMean.size;
  if ([movingVariance, mean, variance].some((tensor) => tensor.size !== channels))
    throw new Error(
      `moving statistics: sizes differ (moving ${movingMean.size}/${movingVariance.size}, batch ${mean.size}/${variance.size})`,
    );
  const backend = tf.backend();
  // Written in place: neither may share its data with another tensor (setWeights can leave them so).
  ownData(movingMean, backend);
  ownData(movingVariance, backend);
  compiledKernels(backend).updateMovingStatistics(
    addressOf(backend, movingMean),
    addressOf(backend, movingVariance),
    addressOf(backend, mean),
    addressOf(backend, variance),
    channels,
    1 - momentum,
  );
}
