// The VGG family (Simonyan & Zisserman 2014, configurations D and E) from one table of variants, with Keras applications'
// layer names (block3_conv2, block5_pool, fc1, …), so Keras weights load by name.

import * as tf from '@tensorflow/tfjs';
import { apply, checkImageSize } from './keras-building.ts';
import type { BuildOptions, ModelDefinition } from './model-definition.ts';
import { preprocessInput } from './preprocessing.ts';

export interface VggVariant {
  name: string;
  /** 3×3 convolutions in each of the five blocks, each block ending in a 2×2 max pooling. */
  depths: readonly [number, number, number, number, number];
}

export const vggVariants: readonly VggVariant[] = [
  { name: 'vgg16', depths: [2, 2, 3, 3, 3] },
  { name: 'vgg19', depths: [2, 2, 4, 4, 4] },
];

const blockFilters = [64, 128, 256, 512, 512] as const;
/** Keras' top: two fully connected layers of this width on the flattened 7×7×512 map. */
const fullyConnectedUnits = 4096;
const resolution = 224;
const minResolution = 32;

export function vggBlockNames(variant: VggVariant): string[] {
  return variant.depths.map((_, block) => `block${block + 1}`);
}

export function buildVgg(variant: VggVariant, options: BuildOptions = {}): tf.LayersModel {
  const imageSize = options.imageSize ?? resolution;
  checkImageSize(variant.name, imageSize, minResolution);
  const input = tf.input({ shape: [imageSize, imageSize, 3], name: 'input_1' });
  let x = preprocessInput(input, 'caffe');
  variant.depths.forEach((depth, block) => {
    for (let i = 0; i < depth; i++) {
      const layer = tf.layers.conv2d({
        filters: blockFilters[block],
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: 'glorotUniform',
        name: `block${block + 1}_conv${i + 1}`,
      });
      x = apply(layer, x);
    }
    x = apply(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `block${block + 1}_pool` }), x);
  });
  if (options.includeTop) {
    x = apply(tf.layers.flatten({ name: 'flatten' }), x);
    for (const name of ['fc1', 'fc2'])
      x = apply(tf.layers.dense({ units: fullyConnectedUnits, activation: 'relu', kernelInitializer: 'glorotUniform', name }), x);
    x = apply(tf.layers.dense({ units: options.classes ?? 1000, activation: 'softmax', name: 'predictions' }), x);
  }
  return tf.model({ inputs: input, outputs: x, name: variant.name });
}

export const vggModels: ModelDefinition[] = vggVariants.map((variant) => ({
  name: variant.name,
  family: 'vgg',
  resolution,
  minResolution,
  dropout: 0.2,
  preprocessing: 'caffe',
  table: { depths: [...variant.depths] },
  build: (options) => buildVgg(variant, options),
  blocks: () => vggBlockNames(variant),
}));
