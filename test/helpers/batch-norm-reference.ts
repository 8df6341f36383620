// What the BatchNorm kernels (wasm and webgpu) are compared with: seeded inputs, and tfjs' autodiff of the plain
// training-mode formula on the cpu backend.

import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { seededRandom } from '../../src/math/random.ts';
import { type BatchNormalizationFields, updateMovingStatistics } from '../../src/models/layers.ts';

/** Seeded values in [−1, 1) + shift. */
export function randomArray(length: number, seed: string, shift = 0): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length }, () => random() * 2 - 1 + shift);
}

/** Seeded x, dy, γ and β for a BatchNorm layer over the last axis of `shape`. */
export function batchNormInputs(shape: number[]): Record<'x' | 'dy' | 'gamma' | 'beta', Float32Array> {
  const channels = shape[shape.length - 1];
  const size = tf.util.sizeFromShape(shape);
  return {
    x: randomArray(size, `x ${shape}`, 0.5),
    dy: randomArray(size, `dy ${shape}`),
    gamma: randomArray(channels, `gamma ${shape}`, 1),
    beta: randomArray(channels, `beta ${shape}`),
  };
}

/** dx, dγ, dβ of training-mode BatchNorm by tfjs autodiff of the plain formula (run it on the cpu backend). */
export function batchNormReference(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, dy: tf.Tensor, epsilon: number): Float32Array[] {
  const axes = x.shape.slice(0, -1).map((_, axis) => axis);
  return tf.tidy(() => {
    const gradients = tf.grads((input: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor) => {
      const { mean, variance } = tf.moments(input, axes);
      return tf.add(tf.mul(tf.div(tf.sub(input, mean), tf.sqrt(tf.add(variance, epsilon))), scale), offset);
    })([x, gamma, beta], dy);
    return gradients.map((gradient) => gradient.dataSync().slice() as Float32Array);
  });
}

/**
 * The moving-statistics update on the current backend, three steps with the same batch statistics, as the tests of both
 * backends run it: `arrays` are the moving mean, moving variance, batch mean and batch variance. The moving mean shares
 * the data of another tensor (as after setWeights), which must come out unchanged. Checks no tensor is made or lost and
 * returns the moving mean and variance after, and the sharing tensor's values.
 */
export async function updateMovingStatisticsThrice(
  arrays: Float32Array[],
  momentum: number,
): Promise<{ movingMean: Float32Array; movingVariance: Float32Array; shared: Float32Array }> {
  const initial = tf.tensor1d(arrays[0]);
  const [movingMean, movingVariance] = [initial.variable(false), tf.variable(tf.tensor1d(arrays[1]), false)];
  const layerVariable = (variable: tf.Variable) => ({ read: () => variable, write: (value: tf.Tensor) => variable.assign(value) });
  const fields = {
    momentum,
    epsilon: 1e-3,
    movingMean: layerVariable(movingMean),
    movingVariance: layerVariable(movingVariance),
  } as unknown as BatchNormalizationFields;
  const [mean, variance] = [tf.tensor1d(arrays[2]), tf.tensor1d(arrays[3])];
  const tensorsBefore = tf.memory().numTensors;
  for (let step = 0; step < 3; step++) updateMovingStatistics(fields, mean, variance);
  assert.equal(tf.memory().numTensors, tensorsBefore, `${tf.getBackend()}: no tensor made or lost`);
  const result = {
    movingMean: (await movingMean.data()) as Float32Array,
    movingVariance: (await movingVariance.data()) as Float32Array,
    shared: (await initial.data()) as Float32Array,
  };
  tf.dispose([initial, movingMean, movingVariance, mean, variance]);
  return result;
}
