// createModel('resnet50', {classes, weights, freeze}) for every registered model, and the same head and freezing on any
// tfjs backbone from disk.

import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.ts';
import { layerBlocks } from './blocks.ts';
import { FineTuneDropout } from './layers.ts';
import { findModel, modelNames } from './registry.ts';
import { loadModel, loadWeightsByName } from './weights-io.ts';

export { modelNames };

export type Freeze = 'all' | 'none' | { trainTopBlocks: number };

export interface ModelOptions {
  classes: number;
  imageSize?: number;
  /** A folder in the tfjs layers format whose weights load into the backbone by name. */
  weights?: string;
  /** Default 'none' (train everything: right when there are no pretrained weights). */
  freeze?: Freeze;
  /** Dropout before the classifier; defaults to the variant's. */
  dropout?: number;
  /** EfficientNet's stochastic-depth rate at the last block. Default 0.2 (Keras); other families have none. */
  dropConnectRate?: number;
  /** For a backbone from disk: the layer whose output feeds the head. Default: its last layer. */
  cutAt?: string;
}

export interface BuiltModel {
  model: tf.LayersModel;
  /** Ordered names of the backbone's blocks (a registered model's blocks, or weighted layers of another backbone), bottom to top. */
  blocks: string[];
  /** Whether inputs are RGB in [0, 255] (every registered model preprocesses inside, as Keras' preprocess_input would). */
  expectsRawPixels: boolean;
}

/** `name` is a registered model (`streamfit models`) or `file:<folder>` holding any tfjs layers model. */
export async function createModel(name: string, options: ModelOptions): Promise<BuiltModel> {
  const definition = findModel(name);
  let backbone: tf.LayersModel;
  let blocks: string[];
  let dropout = options.dropout;
  if (definition) {
    backbone = definition.build({ imageSize: options.imageSize, includeTop: false, dropConnectRate: options.dropConnectRate });
    blocks = definition.blocks();
    dropout ??= definition.dropout;
    if (options.weights) loadWeightsByName(backbone, options.weights);
  } else if (name.startsWith('file:')) {
    const loaded = await loadModel(name.slice('file:'.length));
    const cut = options.cutAt ? findLayer(loaded, options.cutAt, name) : loaded.layers.at(-1)!;
    backbone = tf.model({ inputs: loaded.inputs, outputs: cut.output as tf.SymbolicTensor, name: 'backbone' });
    blocks = backbone.layers.filter((layer) => layer.weights.length > 0).map((layer) => layer.name);
  } else {
    throw new ConfigError(
      'model',
      `unknown model '${name}' (expected one of ${modelNames.join(', ')}, or file:<folder> with a tfjs layers model)`,
    );
  }
  const model = addHead(backbone, options.classes, dropout ?? 0.2);
  applyFreeze(model, blocks, options.freeze ?? 'none');
  return { model, blocks, expectsRawPixels: Boolean(definition) };
}

function findLayer(model: tf.LayersModel, layerName: string, source: string): tf.layers.Layer {
  const layer = model.layers.find((candidate) => candidate.name === layerName);
  if (!layer) {
    const names = model.layers
      .slice(-8)
      .map((candidate) => candidate.name)
      .join(', ');
    throw new ConfigError('model.cutAt', `no layer named '${layerName}' in ${source} (its last layers: ${names})`);
  }
  return layer;
}

/** Pooling (if the features are spatial), dropout and a softmax classifier named as in Keras. */
function addHead(backbone: tf.LayersModel, classes: number, dropout: number): tf.LayersModel {
  let x = backbone.outputs[0];
  if (x.shape.length === 4) x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;
  else if (x.shape.length !== 2)
    throw new ConfigError(
      'model.cutAt',
      `the cut layer's output has shape [${x.shape.join(', ')}]; expected [batch, h, w, c] or [batch, features]`,
    );
  if (dropout > 0) x = new FineTuneDropout({ rate: dropout, name: 'top_dropout' }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: classes, activation: 'softmax', name: 'predictions' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: backbone.inputs, outputs: output, name: `${backbone.name}_classifier` });
}

const headLayers = new Set(['avg_pool', 'top_dropout', 'predictions']);

/**
 * 'none' trains everything. 'all' trains the head only. {trainTopBlocks: k} also trains the top k blocks and the layers
 * between the last block and the classifier (EfficientNet's top_conv, MobileNetV2's Conv_1). Blocks are found as for
 * recomputation (blocks.ts); a backbone from disk without Keras block names opens its top k weighted layers by name.
 * In both frozen modes every BatchNormalization stays frozen, so it runs in inference mode (the Keras fine-tuning recipe).
 */
export function applyFreeze(model: tf.LayersModel, blocks: string[], freeze: Freeze): void {
  if (freeze !== 'all' && freeze !== 'none' && !(Number.isInteger(freeze.trainTopBlocks) && freeze.trainTopBlocks >= 0)) {
    throw new ConfigError('freeze.trainTopBlocks', `expected an integer ≥ 0, got ${JSON.stringify(freeze.trainTopBlocks)}`);
  }
  const open = new Set(typeof freeze === 'object' ? blocks.slice(blocks.length - Math.min(freeze.trainTopBlocks, blocks.length)) : []);
  const openTop = typeof freeze === 'object' && freeze.trainTopBlocks > 0;
  const blockOf = new Map(layerBlocks(model).map(({ layer, block }) => [layer.name, block]));
  for (const layer of model.layers) {
    if (freeze === 'none' || headLayers.has(layer.name)) {
      layer.trainable = true;
      continue;
    }
    const isBatchNorm = layer.getClassName() === 'BatchNormalization';
    const block = blockOf.get(layer.name);
    const inOpenBlock = open.has(layer.name) || (block !== undefined && open.has(block)) || (openTop && block === 'head');
    layer.trainable = inOpenBlock && !isBatchNorm;
  }
}
