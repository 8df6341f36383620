// The training loss on the model's softmax output (src/train/loss.ts: Keras' cross-entropy on probabilities clipped to
// [1e-7, 1 − 1e-7], label smoothing, NaN kept visible), scaled, and its gradient with respect to the probabilities in
// closed form.

import * as tf from '@tensorflow/tfjs';
import { crossEntropy } from '../../train/loss.ts';

const epsilon = 1e-7;

export interface LossAndGradient {
  /** scale × the trainer's loss (the mean over the batch of −Σ target · log(clipped p)). */
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
    const loss = tf.mul(crossEntropy(probabilities, labels, labelSmoothing), scale) as tf.Scalar;
    let target = tf.oneHot(labels, classes).toFloat();
    if (labelSmoothing > 0) target = tf.add(tf.mul(target, 1 - labelSmoothing), labelSmoothing / classes);
    const clipped = tf.clipByValue(probabilities, epsilon, 1 - epsilon);
    const inside = tf.logicalAnd(tf.greaterEqual(probabilities, epsilon), tf.lessEqual(probabilities, 1 - epsilon));
    const gradient = tf.where(inside, tf.mul(tf.div(target, clipped), -scale / count), tf.zerosLike(probabilities)) as tf.Tensor2D;
    return { loss, gradient };
  });
}
