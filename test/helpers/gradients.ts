// Loss and gradients of one training chunk by tfjs' autodiff and by the lean backward pass, for comparing the two.

import * as tf from '@tensorflow/tfjs';
import { LeanBackward } from '../../src/memory/lean-backward/lean-step.ts';
import { crossEntropy } from '../../src/train/loss.ts';

export interface LossAndGradients {
  loss: number;
  /** One per trainable weight, in model.trainableWeights order. */
  gradients: Float32Array[];
}

const variablesOf = (model: tf.LayersModel) => model.trainableWeights.map((weight) => (weight as unknown as { val: tf.Variable }).val);

/** Host copies, read asynchronously (webgpu cannot read synchronously in Node). */
async function read(loss: tf.Tensor, gradients: tf.Tensor[]): Promise<LossAndGradients> {
  return {
    loss: (await loss.data())[0],
    gradients: (await Promise.all(gradients.map((gradient) => gradient.data()))) as Float32Array[],
  };
}

/** tfjs' own: tf.variableGrads over model.apply in training mode, the summed loss as the trainer computes it. */
export async function autodiffGradients(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor1D,
  labelSmoothing: number,
): Promise<LossAndGradients> {
  const variables = variablesOf(model);
  const { value, grads } = tf.variableGrads(
    () => tf.mul(crossEntropy(model.apply(x, { training: true }) as tf.Tensor2D, y, labelSmoothing), x.shape[0]) as tf.Scalar,
    variables,
  );
  try {
    return await read(
      value,
      variables.map((variable) => grads[variable.name]),
    );
  } finally {
    tf.dispose([value, ...Object.values(grads)]);
  }
}

export async function leanGradients(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor1D,
  labelSmoothing: number,
  options: { recompute?: boolean; seed?: number } = {},
): Promise<LossAndGradients> {
  const received = new Map<tf.Variable, tf.Tensor>();
  const loss = new LeanBackward(model).step(x, y, {
    labelSmoothing,
    lossScale: x.shape[0],
    ...options,
    deliver: (variable, gradient) => {
      if (received.has(variable)) throw new Error(`${variable.name} got two gradients`);
      received.set(variable, gradient);
    },
  });
  try {
    return await read(
      loss,
      variablesOf(model).map((variable) => {
        const gradient = received.get(variable);
        if (!gradient) throw new Error(`${variable.name} got no gradient`);
        return gradient;
      }),
    );
  } finally {
    tf.dispose([loss, ...received.values()]);
  }
}

/**
 * The largest difference relative to the largest reference value over all variables (`overall`), and per variable for
 * those whose gradient is not negligible (at least 1e-3 of the largest): a bias whose gradient is zero in exact arithmetic
 * (a shift that a training-mode BatchNorm removes) holds only rounding noise in both, so its relative difference means nothing.
 */
export function relativeDifferences(reference: Float32Array[], other: Float32Array[]): { overall: number; perVariable: number } {
  const scales = reference.map((values) => values.reduce((scale, value) => Math.max(scale, Math.abs(value)), 0));
  const differences = reference.map((values, i) => values.reduce((worst, value, j) => Math.max(worst, Math.abs(value - other[i][j])), 0));
  const scale = Math.max(...scales);
  return {
    overall: Math.max(...differences) / scale,
    perVariable: Math.max(...differences.map((difference, i) => (scales[i] >= 1e-3 * scale ? difference / scales[i] : 0))),
  };
}
