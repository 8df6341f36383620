// MobileNetV2 (Sandler et al. 2018) from its table of inverted-residual stages and a table of width variants, with Keras
// applications' layer names (Conv1, block_5_expand_BN, expanded_conv_project, Conv_1, …), so Keras weights load by name.

import * as tf from '@tensorflow/tfjs';
import { apply, batchNorm, checkImageSize, correctPad } from './keras-building.ts';
import type { BuildOptions, ModelDefinition } from './model-definition.ts';
import { preprocessInput } from './preprocessing.ts';

export interface MobileNetV2Variant {
  name: string;
  /** Width multiplier α (Keras' `alpha`). */
  alpha: number;
  resolution: number;
}

export const mobileNetV2Variants: readonly MobileNetV2Variant[] = [{ name: 'mobilenetv2', alpha: 1, resolution: 224 }];

/** The paper's Table 2: expansion t, output channels c, repeats n, stride s of the first block of the stage. */
export const invertedResidualStages = [
  { expansion: 1, filters: 16, repeats: 1, strides: 1 },
  { expansion: 6, filters: 24, repeats: 2, strides: 2 },
  { expansion: 6, filters: 32, repeats: 3, strides: 2 },
  { expansion: 6, filters: 64, repeats: 4, strides: 2 },
  { expansion: 6, filters: 96, repeats: 3, strides: 1 },
  { expansion: 6, filters: 160, repeats: 3, strides: 2 },
  { expansion: 6, filters: 320, repeats: 1, strides: 1 },
] as const;

const minResolution = 32;
const epsilon = 1e-3;
const momentum = 0.999;

/** Keras' _make_divisible: channels rounded to a multiple of 8, never down by more than 10%. */
export function makeDivisible(value: number, divisor = 8): number {
  let rounded = Math.max(divisor, Math.floor((value + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * value) rounded += divisor;
  return rounded;
}

const relu6 = (name: string) => tf.layers.reLU({ maxValue: 6, name });
const norm = (name: string) => batchNorm(name, { epsilon, momentum });

/** Block 0 is Keras' 'expanded_conv' (no expansion convolution), then block_1 … block_16. */
function blockName(id: number): string {
  return id === 0 ? 'expanded_conv' : `block_${id}`;
}

interface BlockArgs {
  id: number;
  expansion: number;
  strides: number;
  filters: number;
}

function invertedResidualBlock(inputs: tf.SymbolicTensor, { id, expansion, strides, filters }: BlockArgs): tf.SymbolicTensor {
  const channelsIn = inputs.shape[3] as number;
  const prefix = `${blockName(id)}_`;
  let x = inputs;
  if (id > 0) {
    x = apply(
      tf.layers.conv2d({
        filters: expansion * channelsIn,
        kernelSize: 1,
        padding: 'same',
        useBias: false,
        kernelInitializer: 'glorotUniform',
        name: `${prefix}expand`,
      }),
      x,
    );
    x = apply(norm(`${prefix}expand_BN`), x);
    x = apply(relu6(`${prefix}expand_relu`), x);
  }
  if (strides === 2) x = apply(tf.layers.zeroPadding2d({ padding: correctPad(x.shape[1] as number, 3), name: `${prefix}pad` }), x);
  x = apply(
    tf.layers.depthwiseConv2d({
      kernelSize: 3,
      strides,
      padding: strides === 1 ? 'same' : 'valid',
      useBias: false,
      depthwiseInitializer: 'glorotUniform',
      name: `${prefix}depthwise`,
    }),
    x,
  );
  x = apply(norm(`${prefix}depthwise_BN`), x);
  x = apply(relu6(`${prefix}depthwise_relu`), x);
  x = apply(
    tf.layers.conv2d({
      filters,
      kernelSize: 1,
      padding: 'same',
      useBias: false,
      kernelInitializer: 'glorotUniform',
      name: `${prefix}project`,
    }),
    x,
  );
  x = apply(norm(`${prefix}project_BN`), x);
  if (channelsIn === filters && strides === 1) x = apply(tf.layers.add({ name: `${prefix}add` }), [inputs, x]);
  return x;
}

export function mobileNetV2BlockNames(): string[] {
  const count = invertedResidualStages.reduce((sum, stage) => sum + stage.repeats, 0);
  return Array.from({ length: count }, (_, id) => blockName(id));
}

export function buildMobileNetV2(variant: MobileNetV2Variant, options: BuildOptions = {}): tf.LayersModel {
  const imageSize = options.imageSize ?? variant.resolution;
  checkImageSize(variant.name, imageSize, minResolution);
  const input = tf.input({ shape: [imageSize, imageSize, 3], name: 'input_1' });
  let x = preprocessInput(input, 'symmetric');
  x = apply(
    tf.layers.conv2d({
      filters: makeDivisible(32 * variant.alpha),
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      kernelInitializer: 'glorotUniform',
      name: 'Conv1',
    }),
    x,
  );
  x = apply(norm('bn_Conv1'), x);
  x = apply(relu6('Conv1_relu'), x);
  let id = 0;
  for (const stage of invertedResidualStages) {
    for (let i = 0; i < stage.repeats; i++) {
      const filters = makeDivisible(Math.trunc(stage.filters * variant.alpha));
      x = invertedResidualBlock(x, { id, expansion: stage.expansion, strides: i === 0 ? stage.strides : 1, filters });
      id++;
    }
  }
  // Keras widens the last convolution only for α > 1.
  const lastFilters = variant.alpha > 1 ? makeDivisible(1280 * variant.alpha) : 1280;
  x = apply(
    tf.layers.conv2d({ filters: lastFilters, kernelSize: 1, useBias: false, kernelInitializer: 'glorotUniform', name: 'Conv_1' }),
    x,
  );
  x = apply(norm('Conv_1_bn'), x);
  x = apply(relu6('out_relu'), x);
  if (options.includeTop) {
    x = apply(tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }), x);
    x = apply(tf.layers.dense({ units: options.classes ?? 1000, activation: 'softmax', name: 'predictions' }), x);
  }
  return tf.model({ inputs: input, outputs: x, name: `mobilenetv2_${variant.alpha.toFixed(2)}_${imageSize}` });
}

export const mobileNetV2Models: ModelDefinition[] = mobileNetV2Variants.map((variant) => ({
  name: variant.name,
  family: 'mobilenet',
  resolution: variant.resolution,
  minResolution,
  dropout: 0.2,
  preprocessing: 'symmetric',
  table: { alpha: variant.alpha },
  build: (options) => buildMobileNetV2(variant, options),
  blocks: () => mobileNetV2BlockNames(),
}));
