// A small functional model made of the layer kinds of ResNet, VGG, MobileNet and Inception, for the lean backward tests.

import * as tf from '@tensorflow/tfjs';
import { FineTuneBatchNormalization, FineTuneDropout, LeanActivation } from '../../src/models/layers.ts';

/**
 * Conv (strided, 3×3, fused relu, sigmoid), depthwise (depth multiplier 2, relu6), BatchNorm, ReLU(6) layer, Activation,
 * max and average pooling, concatenate, add, zero padding, flatten, dense (elu, softmax), dropout: the layers of ResNet,
 * VGG, MobileNet and Inception-like models. With `extra`, a layer kind no rule covers is inserted.
 */
export function familiesModel(extra?: tf.layers.Layer, dropout = 0.25): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3] });
  let x = tf.layers.zeroPadding2d({ padding: 1 }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, useBias: false }).apply(x) as tf.SymbolicTensor;
  x = new FineTuneBatchNormalization({ axis: 3 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  const pointwise = tf.layers.conv2d({ filters: 8, kernelSize: 1, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const depthwise = tf.layers
    .depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2, activation: 'relu6' })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.concatenate().apply([pointwise, depthwise]) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  if (extra) x = extra.apply(x) as tf.SymbolicTensor;
  const branch = tf.layers.conv2d({ filters: 24, kernelSize: 3, padding: 'same', activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.add().apply([x, branch]) as tf.SymbolicTensor;
  x = tf.layers.averagePooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = new LeanActivation({ activation: 'tanh' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 12, activation: 'elu' }).apply(x) as tf.SymbolicTensor;
  if (dropout > 0) x = new FineTuneDropout({ rate: dropout, seed: 5 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x });
}
