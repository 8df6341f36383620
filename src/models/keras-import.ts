// `streamfit weights import`: a Keras .h5 weights file into a registered model by layer name, saved in the tfjs layers format.

import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FlagError } from '../errors.ts';
import { readKerasWeights } from './keras-h5.ts';
import { findModel, modelNames } from './registry.ts';
import { assignWeights, saveModel } from './weights-io.ts';

export interface KerasImportResult {
  out: string;
  model: string;
  includeTop: boolean;
  weights: number;
  squaredNormalization: boolean;
  /** Layers whose automatic Keras name (conv2d_5) was numbered differently in the file (see matchAutoNamedLayers). */
  renumberedLayers: number;
}

const autoNumber = /^(.*?)(?:_(\d+))?$/;

function seriesOf(name: string): { base: string; index: number } {
  const [, base, index] = autoNumber.exec(name)!;
  return { base, index: index === undefined ? 0 : Number(index) };
}

/**
 * Keras numbers the layers a model leaves unnamed per session (conv2d, conv2d_1, … in a fresh one; Keras 2.0 started at
 * conv2d_1), so a file saved by another session can number InceptionV3's layers with an offset. For every such series the
 * model has names missing from the file, the file's layers of that series are matched to the model's in the order of
 * their numbers (the order of creation), provided both have as many. Named layers are never touched.
 */
export function matchAutoNamedLayers(tensors: tf.NamedTensorMap, model: tf.LayersModel): { tensors: tf.NamedTensorMap; renamed: number } {
  const fileLayers = [...new Set(Object.keys(tensors).map((key) => key.slice(0, key.indexOf('/'))))];
  const modelLayers = model.layers.filter((layer) => layer.weights.length > 0).map((layer) => layer.name);
  const inFile = new Set(fileLayers);
  const bases = new Set(modelLayers.filter((name) => !inFile.has(name)).map((name) => seriesOf(name).base));
  const renames = new Map<string, string>();
  for (const base of bases) {
    const series = (names: string[]) =>
      names.filter((name) => seriesOf(name).base === base).sort((a, b) => seriesOf(a).index - seriesOf(b).index);
    const [fromFile, inModel] = [series(fileLayers), series(modelLayers)];
    if (fromFile.length !== inModel.length) continue;
    fromFile.forEach((name, i) => {
      if (name !== inModel[i]) renames.set(name, inModel[i]);
    });
  }
  if (renames.size === 0) return { tensors, renamed: 0 };
  const renamed: tf.NamedTensorMap = {};
  for (const [key, tensor] of Object.entries(tensors)) {
    const layer = key.slice(0, key.indexOf('/'));
    renamed[`${renames.get(layer) ?? layer}${key.slice(layer.length)}`] = tensor;
  }
  return { tensors: renamed, renamed: renames.size };
}

/** Builds the model (with its ImageNet top when the file has one), fills every weight from the file by name, saves it. */
export async function importKerasWeights(file: string, modelName: string, out: string): Promise<KerasImportResult> {
  const definition = findModel(modelName);
  if (!definition) throw new FlagError('--model', `expected one of ${modelNames.join(', ')}, got '${modelName}'`);
  const { tensors, squaredNormalization } = await readKerasWeights(resolve(file));
  try {
    const predictions = tensors['predictions/kernel'];
    // The top is kept when the file has one, so the imported model still predicts ImageNet classes.
    const model = definition.build({ includeTop: Boolean(predictions), classes: predictions?.shape[1] });
    try {
      const matched = matchAutoNamedLayers(tensors, model);
      assignWeights(model, matched.tensors, resolve(file));
      await saveModel(model, out);
      return {
        out: resolve(out),
        model: definition.name,
        includeTop: Boolean(predictions),
        weights: model.weights.length,
        squaredNormalization,
        renumberedLayers: matched.renamed,
      };
    } finally {
      model.dispose();
    }
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
