// BatchNorm (training mode) and swish as single taped ops with closed-form gradients that recompute what they need from
// the input. tfjs' tape keeps what every primitive op saves for its gradient, and in the backward pass every intermediate
// gradient, until the step ends. BatchNorm is four primitive ops and swish three, so as plain ops they keep several times
// the layer's output; as one op each they keep their input and one gradient.

import * as tf from '@tensorflow/tfjs';
import { batchNormBackwardWasm } from '../kernels/batch-norm-backward.ts';
import { batchNormalizeByChannel } from '../kernels/batch-normalize.ts';
import { channelMomentsWasm } from '../kernels/channel-moments.ts';
import { fusesOnWasm, holdsOnePerChannel } from '../kernels/fuses-on-wasm.ts';
import { swishGradientWasm } from '../kernels/swish-gradient.ts';
import { channelMomentsWebgpu, type MovingStatistics } from '../kernels/webgpu/channel-moments.ts';
import { batchNormAffineWebgpu, fusesOnWebgpu, swishGradientWebgpu, swishWebgpu } from '../kernels/webgpu/elementwise.ts';

/** x · sigmoid(x) with no tape of its own: on webgpu one pass instead of two dispatches (tfjs-layers' swish: three). */
export function swishValue(x: tf.Tensor): tf.Tensor {
  return fusesOnWebgpu(x) ? swishWebgpu(x) : tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

const swishOp = tf.customGrad((x, save) => {
  const input = x as tf.Tensor;
  (save as tf.GradSaveFunc)([input]);
  return {
    // On webgpu one pass each way instead of two and five dispatches.
    value: swishValue(input),
    gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) =>
      tf.tidy(() => {
        if (fusesOnWebgpu(dy, saved)) return swishGradientWebgpu(dy, saved);
        const fused = swishGradientWasm(dy, saved);
        if (fused) return fused;
        const sigmoid = tf.sigmoid(saved);
        // d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x)))
        return tf.mul(dy, tf.mul(sigmoid, tf.add(1, tf.mul(saved, tf.sub(1, sigmoid)))));
      }),
  };
});

/** x · sigmoid(x), keeping only x for the backward pass. */
export function leanSwish(x: tf.Tensor): tf.Tensor {
  return swishOp(x);
}

export interface BatchStatistics {
  output: tf.Tensor;
  /** The batch mean and variance over all axes but the last, for the moving averages; not part of the gradient. */
  mean: tf.Tensor;
  variance: tf.Tensor;
  /** Whether the moving averages handed in were updated already (webgpu does it in the moments' merge). */
  movingUpdated?: boolean;
}

/**
 * Training-mode BatchNorm over the last axis, as tfjs-layers computes it (moments, then batchNorm), keeping only x and gamma
 * for the backward pass, which uses the closed-form gradient (tf.grads cannot run inside a backward pass: it would replace
 * the outer tape). The caller disposes `mean` and `variance`.
 */
export function leanBatchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): BatchStatistics {
  const axes = x.shape.slice(0, -1).map((_, axis) => axis);
  const count = x.size / x.shape[x.rank - 1];
  let statistics: [tf.Tensor, tf.Tensor] | undefined;
  const op = tf.customGrad((input, scale, offset, save) => {
    const [saved, savedScale] = [input as tf.Tensor, scale as tf.Tensor];
    (save as tf.GradSaveFunc)([saved, savedScale]);
    const { output, mean, variance } = batchNormWithBatchStatistics(saved, savedScale, offset as tf.Tensor, epsilon);
    statistics = [tf.keep(mean), tf.keep(variance)];
    return {
      value: output,
      gradFunc: (dy: tf.Tensor, [input, scale]: tf.Tensor[]) =>
        tf.tidy(() => {
          if (fusesOnWasm(dy, input, scale) && holdsOnePerChannel(input, scale)) {
            // Two kernel calls instead of about twenty, in the lean backward pass's operation order.
            const { mean, variance } = channelMomentsWasm(input);
            const { dx, dGamma, dBeta } = batchNormBackwardWasm(dy, input, mean, variance, scale, epsilon, true);
            return [dx!, dGamma, dBeta];
          }
          // With x̂ = (x − mean)/σ: dβ = Σdy, dγ = Σdy·x̂, dx = γ/σ · (dy − dβ/n − x̂·dγ/n), sums over all axes but the last.
          const { mean, variance } = tf.moments(input, axes);
          const inverseDeviation = tf.rsqrt(tf.add(variance, epsilon));
          const normalized = tf.mul(tf.sub(input, mean), inverseDeviation);
          const dBeta = tf.sum(dy, axes);
          const dGamma = tf.sum(tf.mul(dy, normalized), axes);
          const centred = tf.sub(tf.sub(dy, tf.div(dBeta, count)), tf.mul(normalized, tf.div(dGamma, count)));
          return [tf.mul(tf.mul(scale, inverseDeviation), centred), dGamma, dBeta];
        }),
    };
  });
  const output = op(x, gamma, beta);
  const [mean, variance] = statistics!;
  return { output, mean, variance };
}

/**
 * The forward computation of training-mode BatchNorm over the last axis (tfjs-layers' order: moments, then batchNorm), shared
 * by the layer and by the lean backward pass (src/memory/lean-backward), so both give the same numbers.
 */
export function batchNormWithBatchStatistics(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
  moving?: MovingStatistics,
): BatchStatistics {
  const axes = x.shape.slice(0, -1).map((_, axis) => axis);
  if (fusesOnWebgpu(x) && x.rank > 1) {
    // Both moments in two dispatches instead of two reductions, a subtraction and a square (four with their splits' sums),
    // and the moving averages, when given, in the second.
    const { mean, variance } = channelMomentsWebgpu(x, moving);
    // The lean backward pass's rebuild (one dispatch, no reshapes), so a rebuilt output equals this one exactly.
    const output = batchNormAffineWebgpu({ x, mean, variance, gamma, beta, epsilon });
    return { output, mean, variance, movingUpdated: moving !== undefined };
  }
  if (fusesOnWasm(x, gamma, beta) && holdsOnePerChannel(x, gamma, beta)) {
    // tf.moments' numbers and tf.batchNorm's in two kernel calls instead of eight.
    const { mean, variance } = channelMomentsWasm(x);
    return { output: batchNormalizeByChannel(x, mean, variance, beta, gamma, epsilon), mean, variance };
  }
  const { mean, variance } = tf.moments(x, axes);
  return { output: tf.batchNorm(x, mean, variance, beta, gamma, epsilon), mean, variance };
}
