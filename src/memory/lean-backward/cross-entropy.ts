// The training loss on the model's softmax output and its gradient in closed form: Keras' cross-entropy on probabilities
// clipped to [1e-7, 1 − 1e-7], with label smoothing (the same ops as src/train/loss.ts, so the same value), scaled.

import * as tf from '@tensorflow/tfjs';

const epsilon = 1e-7;

export interface LossAndGradient {
  /** scale × the mean over the batch of −Σ target · log(clipped p). */
  loss: tf.Scalar;
  /** d loss / d probabilities: −scale/N · target / clipped p where p lies inside the clip range, 0 outside (clip's gradient). */
  gradient: tf.Tensor2D;
}

export function crossEntropyWithGradient(
  probabilities: tf.Tensor2D,
  labels: tf.Tensor1D,
  labelSmoothing: number,
  scale: number,
): LossAndGradient {
  return tf.tidy(() => {
    const [count, classes] = probabilities.shape;
    let target = tf.oneHot(labels, classes).toFloat();
    if (labelSmoothing > 0) target = tf.add(tf.mul(target, 1 - labelSmoothing), labelSmoothing / classes);
    const clipped = tf.clipByValue(probabilities, epsilon, 1 - epsilon);
    const loss = tf.mul(tf.mean(tf.neg(tf.sum(tf.mul(target, tf.log(clipped)), 1))), scale) as tf.Scalar;
    const inside = tf.logicalAnd(tf.greaterEqual(probabilities, epsilon), tf.lessEqual(probabilities, 1 - epsilon));
    const gradient = tf.where(inside, tf.mul(tf.div(target, clipped), -scale / count), tf.zerosLike(probabilities)) as tf.Tensor2D;
    return { loss, gradient };
  });
}
