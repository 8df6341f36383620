// Small pieces every family builder shares: applying a layer, Keras' padding and naming rules, the input size check.

import type * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.ts';
import { FineTuneBatchNormalization } from './layers.ts';

/** A layer applied to one symbolic tensor or several (tfjs' apply is typed for both). */
export function apply(layer: tf.layers.Layer, input: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
  return layer.apply(input) as tf.SymbolicTensor;
}

/** Keras' correct_pad: pad so a stride-2 'valid' convolution matches TensorFlow's 'same' on even sizes. */
export function correctPad(size: number, kernelSize: number): [[number, number], [number, number]] {
  const adjust = 1 - (size % 2);
  const half = Math.floor(kernelSize / 2);
  return [
    [half - adjust, half],
    [half - adjust, half],
  ];
}

/**
 * Keras' names for layers built without one: the class in snake case, then _1, _2 … in order of creation within a fresh
 * session (`conv2d`, `conv2d_1`, …). InceptionV3 names most of its layers this way, so its weights are matched by them.
 */
export function kerasAutoNames(): (prefix: string) => string {
  const counts = new Map<string, number>();
  return (prefix) => {
    const count = counts.get(prefix) ?? 0;
    counts.set(prefix, count + 1);
    return count === 0 ? prefix : `${prefix}_${count}`;
  };
}

export interface BatchNormOptions {
  epsilon: number;
  momentum?: number;
  /** Without gamma (InceptionV3's BatchNormalization(scale=False)). */
  scale?: boolean;
}

/** BatchNormalization over channels that runs in inference mode when frozen; Keras' defaults unless given. */
export function batchNorm(name: string, options: BatchNormOptions): tf.layers.Layer {
  return new FineTuneBatchNormalization({
    axis: 3,
    momentum: options.momentum ?? 0.99,
    epsilon: options.epsilon,
    scale: options.scale ?? true,
    name,
  });
}

/** Refuses an input side the network cannot take (its valid convolutions and poolings would leave nothing). */
export function checkImageSize(model: string, imageSize: number, minResolution: number): void {
  if (!Number.isInteger(imageSize) || imageSize < minResolution) {
    throw new ConfigError('imageSize', `${model} takes inputs of at least ${minResolution} px, got ${imageSize}`);
  }
}
