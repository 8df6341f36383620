// FusedBatchNorm's gradient with broadcasting instead of tfjs' tile of 1/σ to the full input shape:
// the same values, one full-size tensor fewer per layer (wasm's Tile kernel alone took a tenth of a training step).

import * as tf from '@tensorflow/tfjs';

export const batchNormGradientConfig: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
    const [x, mean, variance, scale] = saved;
    const gradient = dy as tf.Tensor;
    const scaleValue = scale ?? tf.scalar(1);
    const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const reduce = (value: tf.Tensor) => tf.reshape(mean.rank === 1 ? tf.sum(value, reductionAxes) : value, mean.shape);
    const xMinusMean = tf.sub(x, mean);
    const dyTimesScale = tf.mul(gradient, scaleValue);
    const inverseDeviation = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const minusHalfInverseCube = tf.mul(tf.mul(tf.mul(inverseDeviation, inverseDeviation), inverseDeviation), tf.scalar(-0.5));
    return {
      x: () => tf.reshape(tf.mul(dyTimesScale, inverseDeviation), x.shape),
      mean: () => reduce(tf.mul(tf.neg(inverseDeviation), dyTimesScale)),
      variance: () => reduce(tf.mul(tf.mul(minusHalfInverseCube, xMinusMean), dyTimesScale)),
      scale: () => reduce(tf.mul(gradient, tf.mul(xMinusMean, inverseDeviation))),
      offset: () => reduce(gradient),
    };
  },
};
