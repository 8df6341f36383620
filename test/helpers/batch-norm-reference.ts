// What the BatchNorm kernels (wasm and webgpu) are compared with: seeded inputs, and tfjs' autodiff of the plain
// training-mode formula on the cpu backend.

import * as tf from '@tensorflow/tfjs';
import { seededRandom } from '../../src/math/random.ts';

/** Seeded values in [−1, 1) + shift. */
export function randomArray(length: number, seed: string, shift = 0): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length }, () => random() * 2 - 1 + shift);
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
