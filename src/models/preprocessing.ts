// Keras' preprocess_input as layers at the bottom of the model, so every pipeline feeds raw RGB in [0, 255] to any backbone.

import * as tf from '@tensorflow/tfjs';
import type { InputPreprocessing } from './model-definition.ts';

/** ImageNet's mean pixel in BGR order, as Keras' 'caffe' mode subtracts it. */
const caffeMeanBgr = [103.939, 116.779, 123.68];

/** Keras' 'caffe' mode: RGB → BGR, then subtract the ImageNet mean per channel, no scaling. No weights (Keras has none here). */
export class CaffePreprocessing extends tf.layers.Layer {
  static className = 'CaffePreprocessing';

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const input = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.sub(tf.reverse(input, -1), tf.tensor1d(caffeMeanBgr));
    });
  }
}
tf.serialization.registerClass(CaffePreprocessing);

/** The family's preprocessing applied to the model input ('imagenet' is EfficientNet's own Rescaling + Normalization pair). */
export function preprocessInput(input: tf.SymbolicTensor, mode: Exclude<InputPreprocessing, 'imagenet'>): tf.SymbolicTensor {
  const layer =
    mode === 'caffe'
      ? new CaffePreprocessing({ name: 'caffe_preprocessing' })
      : tf.layers.rescaling({ scale: 1 / 127.5, offset: -1, name: 'rescaling' });
  return layer.apply(input) as tf.SymbolicTensor;
}
