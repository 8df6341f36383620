// Cross-entropy on the model's softmax output (Keras' formula: clipped probabilities), with label smoothing.

import * as tf from '@tensorflow/tfjs';

export function crossEntropy(probabilities: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const classes = probabilities.shape[1];
    let target = tf.oneHot(labels, classes).toFloat();
    if (labelSmoothing > 0) target = tf.add(tf.mul(target, 1 - labelSmoothing), labelSmoothing / classes);
    const clipped = tf.clipByValue(probabilities, 1e-7, 1 - 1e-7);
    const loss = tf.mean(tf.neg(tf.sum(tf.mul(target, tf.log(clipped)), 1)));
    // wasm's clip turns NaN into the lower bound, which would hide a diverged model from the finite check; 0 × sum(p) is 0
    // for finite probabilities (and adds nothing to the gradient) but NaN when any is NaN or infinite.
    return tf.add(loss, tf.mul(0, tf.sum(probabilities))) as tf.Scalar;
  });
}

/** L1 and L2 penalties on the trainable kernels (not biases, not BatchNorm). */
export function regularizationPenalty(weights: tf.Variable[], l1: number, l2: number): tf.Scalar | undefined {
  if (l1 === 0 && l2 === 0) return undefined;
  const kernels = weights.filter((weight) => /kernel/.test(weight.name));
  if (kernels.length === 0) return undefined;
  return tf.tidy(() => {
    const terms = kernels.map((kernel) => {
      let term = tf.scalar(0);
      if (l1 > 0) term = tf.add(term, tf.mul(l1, tf.sum(tf.abs(kernel))));
      if (l2 > 0) term = tf.add(term, tf.mul(l2, tf.sum(tf.square(kernel))));
      return term;
    });
    return tf.addN(terms) as tf.Scalar;
  });
}
