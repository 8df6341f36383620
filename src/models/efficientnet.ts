// The EfficientNet family built with tfjs layers, following Keras applications layer by layer (same names, so Keras weights load by name).

import * as tf from '@tensorflow/tfjs';
import { checkImageSize, correctPad } from './keras-building.ts';
import { FineTuneBatchNormalization, FineTuneDropout, InputNormalization, LeanActivation } from './layers.ts';
import type { BuildOptions, ModelDefinition } from './model-definition.ts';
import {
  baseBlocks,
  dropConnectRate,
  type EfficientNetVariant,
  efficientNetVariants,
  roundFilters,
  roundRepeats,
  squeezeExciteRatio,
} from './variants.ts';

/**
 * imageSize: any size ≥ 32 works (e.g. B0 at 64 px for tests). includeTop: the ImageNet top (avg_pool, top_dropout,
 * predictions), or ending at top_activation. dropConnectRate: stochastic depth at the last block (Keras: 0.2).
 */
export type EfficientNetOptions = BuildOptions;

const minResolution = 32;

const convInitializer = () => tf.initializers.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'truncatedNormal' });
const denseInitializer = () => tf.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanOut', distribution: 'uniform' });

function batchNorm(name: string): tf.layers.Layer {
  return new FineTuneBatchNormalization({ axis: 3, momentum: 0.99, epsilon: 1e-3, name });
}

function spatialSize(tensor: tf.SymbolicTensor): number {
  return tensor.shape[1] as number;
}

interface BlockArgs {
  name: string;
  filtersIn: number;
  filtersOut: number;
  kernelSize: number;
  strides: number;
  expandRatio: number;
  dropRate: number;
}

function mbConvBlock(inputs: tf.SymbolicTensor, args: BlockArgs): tf.SymbolicTensor {
  const { name, filtersIn, filtersOut, kernelSize, strides, expandRatio, dropRate } = args;
  const filters = filtersIn * expandRatio;
  let x = inputs;
  if (expandRatio !== 1) {
    x = tf.layers
      .conv2d({ filters, kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: convInitializer(), name: `${name}expand_conv` })
      .apply(x) as tf.SymbolicTensor;
    x = batchNorm(`${name}expand_bn`).apply(x) as tf.SymbolicTensor;
    x = new LeanActivation({ activation: 'swish', name: `${name}expand_activation` }).apply(x) as tf.SymbolicTensor;
  }
  let padding: 'same' | 'valid' = 'same';
  if (strides === 2) {
    x = tf.layers
      .zeroPadding2d({ padding: correctPad(spatialSize(x), kernelSize), name: `${name}dwconv_pad` })
      .apply(x) as tf.SymbolicTensor;
    padding = 'valid';
  }
  x = tf.layers
    .depthwiseConv2d({ kernelSize, strides, padding, useBias: false, depthwiseInitializer: convInitializer(), name: `${name}dwconv` })
    .apply(x) as tf.SymbolicTensor;
  x = batchNorm(`${name}bn`).apply(x) as tf.SymbolicTensor;
  x = new LeanActivation({ activation: 'swish', name: `${name}activation` }).apply(x) as tf.SymbolicTensor;

  const filtersSe = Math.max(1, Math.floor(filtersIn * squeezeExciteRatio));
  let se = tf.layers.globalAveragePooling2d({ name: `${name}se_squeeze` }).apply(x) as tf.SymbolicTensor;
  se = tf.layers.reshape({ targetShape: [1, 1, filters], name: `${name}se_reshape` }).apply(se) as tf.SymbolicTensor;
  se = tf.layers
    .conv2d({
      filters: filtersSe,
      kernelSize: 1,
      padding: 'same',
      activation: 'swish',
      kernelInitializer: convInitializer(),
      name: `${name}se_reduce`,
    })
    .apply(se) as tf.SymbolicTensor;
  se = tf.layers
    .conv2d({
      filters,
      kernelSize: 1,
      padding: 'same',
      activation: 'sigmoid',
      kernelInitializer: convInitializer(),
      name: `${name}se_expand`,
    })
    .apply(se) as tf.SymbolicTensor;
  x = tf.layers.multiply({ name: `${name}se_excite` }).apply([x, se]) as tf.SymbolicTensor;

  x = tf.layers
    .conv2d({
      filters: filtersOut,
      kernelSize: 1,
      padding: 'same',
      useBias: false,
      kernelInitializer: convInitializer(),
      name: `${name}project_conv`,
    })
    .apply(x) as tf.SymbolicTensor;
  x = batchNorm(`${name}project_bn`).apply(x) as tf.SymbolicTensor;
  if (strides === 1 && filtersIn === filtersOut) {
    // Stochastic depth: drop the whole residual branch per sample.
    if (dropRate > 0)
      x = new FineTuneDropout({ rate: dropRate, noiseShape: [null, 1, 1, 1] as unknown as number[], name: `${name}drop` }).apply(
        x,
      ) as tf.SymbolicTensor;
    x = tf.layers.add({ name: `${name}add` }).apply([x, inputs]) as tf.SymbolicTensor;
  }
  return x;
}

/** Names of the MBConv blocks in order ('block1a', …), for freezing the top k. */
export function blockNames(variant: EfficientNetVariant): string[] {
  return baseBlocks.flatMap((stage, i) =>
    Array.from({ length: roundRepeats(stage.repeats, variant.depthCoefficient) }, (_, j) => `block${i + 1}${String.fromCharCode(97 + j)}`),
  );
}

export function buildEfficientNet(variant: EfficientNetVariant, options: EfficientNetOptions = {}): tf.LayersModel {
  const imageSize = options.imageSize ?? variant.resolution;
  checkImageSize(variant.name, imageSize, minResolution);
  const width = (filters: number) => roundFilters(filters, variant.widthCoefficient);
  const input = tf.input({ shape: [imageSize, imageSize, 3], name: 'input_1' });
  // Inputs are RGB in [0, 255]; scaling and ImageNet normalization live in the model, as in Keras.
  let x = tf.layers.rescaling({ scale: 1 / 255, name: 'rescaling' }).apply(input) as tf.SymbolicTensor;
  x = new InputNormalization({ name: 'normalization' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.zeroPadding2d({ padding: correctPad(imageSize, 3), name: 'stem_conv_pad' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({
      filters: width(32),
      kernelSize: 3,
      strides: 2,
      padding: 'valid',
      useBias: false,
      kernelInitializer: convInitializer(),
      name: 'stem_conv',
    })
    .apply(x) as tf.SymbolicTensor;
  x = batchNorm('stem_bn').apply(x) as tf.SymbolicTensor;
  x = new LeanActivation({ activation: 'swish', name: 'stem_activation' }).apply(x) as tf.SymbolicTensor;

  const totalBlocks = baseBlocks.reduce((sum, stage) => sum + roundRepeats(stage.repeats, variant.depthCoefficient), 0);
  let index = 0;
  baseBlocks.forEach((stage, i) => {
    const repeats = roundRepeats(stage.repeats, variant.depthCoefficient);
    for (let j = 0; j < repeats; j++) {
      x = mbConvBlock(x, {
        name: `block${i + 1}${String.fromCharCode(97 + j)}_`,
        filtersIn: j === 0 ? width(stage.filtersIn) : width(stage.filtersOut),
        filtersOut: width(stage.filtersOut),
        kernelSize: stage.kernelSize,
        strides: j === 0 ? stage.strides : 1,
        expandRatio: stage.expandRatio,
        dropRate: ((options.dropConnectRate ?? dropConnectRate) * index) / totalBlocks,
      });
      index++;
    }
  });

  x = tf.layers
    .conv2d({
      filters: width(1280),
      kernelSize: 1,
      padding: 'same',
      useBias: false,
      kernelInitializer: convInitializer(),
      name: 'top_conv',
    })
    .apply(x) as tf.SymbolicTensor;
  x = batchNorm('top_bn').apply(x) as tf.SymbolicTensor;
  x = new LeanActivation({ activation: 'swish', name: 'top_activation' }).apply(x) as tf.SymbolicTensor;
  if (options.includeTop) {
    x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
    if (variant.dropout > 0) x = new FineTuneDropout({ rate: variant.dropout, name: 'top_dropout' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .dense({ units: options.classes ?? 1000, activation: 'softmax', kernelInitializer: denseInitializer(), name: 'predictions' })
      .apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x, name: variant.name.replace('-', '') });
}

export const efficientNetModels: ModelDefinition[] = efficientNetVariants.map((variant) => ({
  name: variant.name,
  family: 'efficientnet',
  resolution: variant.resolution,
  minResolution,
  dropout: variant.dropout,
  preprocessing: 'imagenet',
  table: { widthCoefficient: variant.widthCoefficient, depthCoefficient: variant.depthCoefficient },
  build: (options) => buildEfficientNet(variant, options),
  blocks: () => blockNames(variant),
}));
