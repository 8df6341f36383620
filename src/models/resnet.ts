// The ResNet family (He et al. 2015, v2 with pre-activation 2016) from one table of variants, following Keras applications
// layer by layer (conv1_conv, conv4_block6_2_bn, conv5_block3_out, …), so Keras weights load by name.

import * as tf from '@tensorflow/tfjs';
import { apply, batchNorm, checkImageSize, kerasAutoNames } from './keras-building.ts';
import { LeanActivation } from './layers.ts';
import type { BuildOptions, ModelDefinition } from './model-definition.ts';
import { preprocessInput } from './preprocessing.ts';

export interface ResNetVariant {
  name: string;
  /** v2: batch norm and ReLU before each convolution (identity mappings), post_bn at the end; v1 after. */
  preactivation: boolean;
  /** Bottleneck blocks in the stages conv2 … conv5. */
  depths: readonly [number, number, number, number];
}

export const resNetVariants: readonly ResNetVariant[] = [
  { name: 'resnet50', preactivation: false, depths: [3, 4, 6, 3] },
  { name: 'resnet101', preactivation: false, depths: [3, 4, 23, 3] },
  { name: 'resnet152', preactivation: false, depths: [3, 8, 36, 3] },
  { name: 'resnet50v2', preactivation: true, depths: [3, 4, 6, 3] },
];

/** Bottleneck width of each stage; a block's output has four times as many channels. */
const stageFilters = [64, 128, 256, 512] as const;
const epsilon = 1.001e-5;
const resolution = 224;
const minResolution = 32;

const relu = (name: string) => new LeanActivation({ activation: 'relu', name });
const conv = (filters: number, kernelSize: number, name: string, options: { strides?: number; useBias?: boolean; padding?: 'same' } = {}) =>
  tf.layers.conv2d({
    filters,
    kernelSize,
    strides: options.strides ?? 1,
    padding: options.padding ?? 'valid',
    useBias: options.useBias ?? true,
    kernelInitializer: 'glorotUniform',
    name,
  });

/** v1 bottleneck (Keras residual_block_v1): the stride sits in the first 1×1 convolution, ReLU after the addition. */
function blockV1(x: tf.SymbolicTensor, filters: number, strides: number, convShortcut: boolean, name: string): tf.SymbolicTensor {
  let shortcut = x;
  if (convShortcut) {
    shortcut = apply(conv(4 * filters, 1, `${name}_0_conv`, { strides }), x);
    shortcut = apply(batchNorm(`${name}_0_bn`, { epsilon }), shortcut);
  }
  let y = apply(conv(filters, 1, `${name}_1_conv`, { strides }), x);
  y = apply(batchNorm(`${name}_1_bn`, { epsilon }), y);
  y = apply(relu(`${name}_1_relu`), y);
  y = apply(conv(filters, 3, `${name}_2_conv`, { padding: 'same' }), y);
  y = apply(batchNorm(`${name}_2_bn`, { epsilon }), y);
  y = apply(relu(`${name}_2_relu`), y);
  y = apply(conv(4 * filters, 1, `${name}_3_conv`), y);
  y = apply(batchNorm(`${name}_3_bn`, { epsilon }), y);
  y = apply(tf.layers.add({ name: `${name}_add` }), [shortcut, y]);
  return apply(relu(`${name}_out`), y);
}

/** v2 bottleneck (Keras residual_block_v2): pre-activation, the stride in the 3×3 convolution, a plain addition at the end. */
function blockV2(
  x: tf.SymbolicTensor,
  filters: number,
  strides: number,
  convShortcut: boolean,
  name: string,
  autoName: (prefix: string) => string,
): tf.SymbolicTensor {
  let preact = apply(batchNorm(`${name}_preact_bn`, { epsilon }), x);
  preact = apply(relu(`${name}_preact_relu`), preact);
  let shortcut = x;
  if (convShortcut) shortcut = apply(conv(4 * filters, 1, `${name}_0_conv`, { strides }), preact);
  else if (strides > 1)
    // Keras leaves this pooling unnamed: max_pooling2d, max_pooling2d_1, …
    shortcut = apply(tf.layers.maxPooling2d({ poolSize: 1, strides, name: autoName('max_pooling2d') }), x);
  let y = apply(conv(filters, 1, `${name}_1_conv`, { useBias: false }), preact);
  y = apply(batchNorm(`${name}_1_bn`, { epsilon }), y);
  y = apply(relu(`${name}_1_relu`), y);
  y = apply(tf.layers.zeroPadding2d({ padding: [1, 1], name: `${name}_2_pad` }), y);
  y = apply(conv(filters, 3, `${name}_2_conv`, { strides, useBias: false }), y);
  y = apply(batchNorm(`${name}_2_bn`, { epsilon }), y);
  y = apply(relu(`${name}_2_relu`), y);
  y = apply(conv(4 * filters, 1, `${name}_3_conv`), y);
  return apply(tf.layers.add({ name: `${name}_out` }), [shortcut, y]);
}

/** Block names in order: conv2_block1 … conv5_block3. */
export function resNetBlockNames(variant: ResNetVariant): string[] {
  return variant.depths.flatMap((depth, stage) => Array.from({ length: depth }, (_, block) => `conv${stage + 2}_block${block + 1}`));
}

export function buildResNet(variant: ResNetVariant, options: BuildOptions = {}): tf.LayersModel {
  const imageSize = options.imageSize ?? resolution;
  checkImageSize(variant.name, imageSize, minResolution);
  const autoName = kerasAutoNames();
  const input = tf.input({ shape: [imageSize, imageSize, 3], name: 'input_1' });
  let x = preprocessInput(input, variant.preactivation ? 'symmetric' : 'caffe');
  x = apply(tf.layers.zeroPadding2d({ padding: [3, 3], name: 'conv1_pad' }), x);
  x = apply(conv(64, 7, 'conv1_conv', { strides: 2 }), x);
  if (!variant.preactivation) {
    x = apply(batchNorm('conv1_bn', { epsilon }), x);
    x = apply(relu('conv1_relu'), x);
  }
  x = apply(tf.layers.zeroPadding2d({ padding: [1, 1], name: 'pool1_pad' }), x);
  x = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }), x);

  variant.depths.forEach((depth, stage) => {
    const filters = stageFilters[stage];
    for (let block = 0; block < depth; block++) {
      const name = `conv${stage + 2}_block${block + 1}`;
      if (variant.preactivation) {
        // v2 downsamples in the last block of conv2 … conv4 (Keras' stack_residual_blocks_v2), conv5 keeps its size.
        const strides = block === depth - 1 && stage < 3 ? 2 : 1;
        x = blockV2(x, filters, strides, block === 0, name, autoName);
      } else {
        // v1 downsamples in the first block of conv3 … conv5.
        const strides = block === 0 && stage > 0 ? 2 : 1;
        x = blockV1(x, filters, strides, block === 0, name);
      }
    }
  });
  if (variant.preactivation) {
    x = apply(batchNorm('post_bn', { epsilon }), x);
    x = apply(relu('post_relu'), x);
  }
  if (options.includeTop) {
    x = apply(tf.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
    x = apply(tf.layers.dense({ units: options.classes ?? 1000, activation: 'softmax', name: 'predictions' }), x);
  }
  return tf.model({ inputs: input, outputs: x, name: variant.name });
}

export const resNetModels: ModelDefinition[] = resNetVariants.map((variant) => ({
  name: variant.name,
  family: 'resnet',
  resolution,
  minResolution,
  dropout: 0.2,
  preprocessing: variant.preactivation ? 'symmetric' : 'caffe',
  table: { depths: [...variant.depths], preactivation: variant.preactivation },
  build: (options) => buildResNet(variant, options),
  blocks: () => resNetBlockNames(variant),
}));
