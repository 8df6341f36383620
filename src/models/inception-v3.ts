// InceptionV3 (Szegedy et al. 2015) from a table of its mixed blocks, each a list of branches, built in Keras applications'
// order. Keras leaves the inner layers unnamed, so they get its automatic names (conv2d_17, batch_normalization_17, …) in
// the same order of creation; the blocks end in concatenations named mixed0 … mixed10.

import * as tf from '@tensorflow/tfjs';
import { apply, batchNorm, checkImageSize, kerasAutoNames } from './keras-building.ts';
import { LeanActivation } from './layers.ts';
import type { BuildOptions, ModelDefinition } from './model-definition.ts';
import { preprocessInput } from './preprocessing.ts';

/** One conv2d_bn: a convolution without bias, BatchNorm without scale, ReLU. 'reduce' is stride 2 without padding. */
interface ConvSpec {
  filters: number;
  kernelSize: [number, number];
  mode: 'same' | 'valid' | 'reduce';
}
/** 3×3 pooling: average with stride 1 keeping the size (before a 1×1 convolution), or max with stride 2 halving it. */
type Step = ConvSpec | 'averagePool' | 'maxPool';

interface Branch {
  steps: Step[];
  /** Two convolutions applied side by side to the branch's output and concatenated (Inception-E's 1×3 and 3×1). */
  fork?: [ConvSpec, ConvSpec];
  /** Keras names only the first such concatenation of each block. */
  forkName?: string;
}

const conv = (filters: number, rows: number, cols = rows, mode: ConvSpec['mode'] = 'same'): ConvSpec => ({
  filters,
  kernelSize: [rows, cols],
  mode,
});

/** 35×35: 1×1, 5×5, double 3×3 and pooling branches (the paper's figure 5). */
const inceptionA = (poolFilters: number): Branch[] => [
  { steps: [conv(64, 1)] },
  { steps: [conv(48, 1), conv(64, 5)] },
  { steps: [conv(64, 1), conv(96, 3), conv(96, 3)] },
  { steps: ['averagePool', conv(poolFilters, 1)] },
];
/** 35 → 17 grid reduction. */
const inceptionB: Branch[] = [
  { steps: [conv(384, 3, 3, 'reduce')] },
  { steps: [conv(64, 1), conv(96, 3), conv(96, 3, 3, 'reduce')] },
  { steps: ['maxPool'] },
];
/** 17×17 with 7×7 convolutions factorized into 1×7 and 7×1 (figure 6), `width` channels inside. */
const inceptionC = (width: number): Branch[] => [
  { steps: [conv(192, 1)] },
  { steps: [conv(width, 1), conv(width, 1, 7), conv(192, 7, 1)] },
  { steps: [conv(width, 1), conv(width, 7, 1), conv(width, 1, 7), conv(width, 7, 1), conv(192, 1, 7)] },
  { steps: ['averagePool', conv(192, 1)] },
];
/** 17 → 8 grid reduction. */
const inceptionD: Branch[] = [
  { steps: [conv(192, 1), conv(320, 3, 3, 'reduce')] },
  { steps: [conv(192, 1), conv(192, 1, 7), conv(192, 7, 1), conv(192, 3, 3, 'reduce')] },
  { steps: ['maxPool'] },
];
/** 8×8 with expanded filter banks (figure 7). */
const inceptionE = (index: number): Branch[] => [
  { steps: [conv(320, 1)] },
  { steps: [conv(384, 1)], fork: [conv(384, 1, 3), conv(384, 3, 1)], forkName: `mixed9_${index}` },
  { steps: [conv(448, 1), conv(384, 3)], fork: [conv(384, 1, 3), conv(384, 3, 1)] },
  { steps: ['averagePool', conv(192, 1)] },
];

/** The stem, up to the first mixed block. */
const stem: Step[] = [
  conv(32, 3, 3, 'reduce'),
  conv(32, 3, 3, 'valid'),
  conv(64, 3),
  'maxPool',
  conv(80, 1, 1, 'valid'),
  conv(192, 3, 3, 'valid'),
  'maxPool',
];

/** mixed0 … mixed10. */
export const inceptionV3Blocks: readonly Branch[][] = [
  inceptionA(32),
  inceptionA(64),
  inceptionA(64),
  inceptionB,
  inceptionC(128),
  inceptionC(160),
  inceptionC(160),
  inceptionC(192),
  inceptionD,
  inceptionE(0),
  inceptionE(1),
];

export interface InceptionV3Variant {
  name: string;
  resolution: number;
}

export const inceptionV3Variants: readonly InceptionV3Variant[] = [{ name: 'inceptionv3', resolution: 299 }];

/** The smallest input the stem and the two grid reductions leave a 1×1 map for. */
const minResolution = 75;

export function inceptionV3BlockNames(): string[] {
  return inceptionV3Blocks.map((_, i) => `mixed${i}`);
}

export function buildInceptionV3(variant: InceptionV3Variant, options: BuildOptions = {}): tf.LayersModel {
  const imageSize = options.imageSize ?? variant.resolution;
  checkImageSize(variant.name, imageSize, minResolution);
  const autoName = kerasAutoNames();
  const step = (x: tf.SymbolicTensor, spec: Step): tf.SymbolicTensor => {
    if (spec === 'averagePool')
      return apply(tf.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: autoName('average_pooling2d') }), x);
    if (spec === 'maxPool') return apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: autoName('max_pooling2d') }), x);
    const layer = tf.layers.conv2d({
      filters: spec.filters,
      kernelSize: spec.kernelSize,
      strides: spec.mode === 'reduce' ? 2 : 1,
      padding: spec.mode === 'same' ? 'same' : 'valid',
      useBias: false,
      kernelInitializer: 'glorotUniform',
      name: autoName('conv2d'),
    });
    let y = apply(layer, x);
    y = apply(batchNorm(autoName('batch_normalization'), { epsilon: 1e-3, scale: false }), y);
    return apply(new LeanActivation({ activation: 'relu', name: autoName('activation') }), y);
  };

  const input = tf.input({ shape: [imageSize, imageSize, 3], name: 'input_1' });
  let x = preprocessInput(input, 'symmetric');
  for (const spec of stem) x = step(x, spec);
  inceptionV3Blocks.forEach((branches, block) => {
    const blockInput = x;
    const outputs = branches.map((branch) => {
      let y = branch.steps.reduce(step, blockInput);
      if (branch.fork) {
        const forked = branch.fork.map((spec) => step(y, spec));
        y = apply(tf.layers.concatenate({ axis: -1, name: branch.forkName ?? autoName('concatenate') }), forked);
      }
      return y;
    });
    x = apply(tf.layers.concatenate({ axis: -1, name: `mixed${block}` }), outputs);
  });
  if (options.includeTop) {
    x = apply(tf.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
    x = apply(tf.layers.dense({ units: options.classes ?? 1000, activation: 'softmax', name: 'predictions' }), x);
  }
  return tf.model({ inputs: input, outputs: x, name: 'inception_v3' });
}

export const inceptionV3Models: ModelDefinition[] = inceptionV3Variants.map((variant) => ({
  name: variant.name,
  family: 'inception',
  resolution: variant.resolution,
  minResolution,
  dropout: 0.2,
  preprocessing: 'symmetric',
  table: {},
  build: (options) => buildInceptionV3(variant, options),
  blocks: () => inceptionV3BlockNames(),
}));
