// Saves and loads models in the tfjs layers format (model.json + weights.bin) from file paths on any backend, without tfjs-node.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DataError } from '../errors.ts';
// Models saved by streamfit use its Normalization, BatchNormalization, Dropout and preprocessing classes: register them before any load.
import './layers.ts';
import './preprocessing.ts';

const modelFile = 'model.json';
const weightsFile = 'weights.bin';

/** Writes a file through a temporary name and a rename, so a crash never leaves half a file under the real name. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, data);
  renameSync(temporary, path);
}

export function fileHandler(folder: string): tf.io.IOHandler {
  const root = resolve(folder);
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weightData = artifacts.weightData ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : new ArrayBuffer(0);
      writeFileAtomic(join(root, weightsFile), new Uint8Array(weightData));
      const json = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: 'streamfit',
        trainingConfig: artifacts.trainingConfig,
        userDefinedMetadata: artifacts.userDefinedMetadata,
        weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs ?? [] }],
      };
      writeFileAtomic(join(root, modelFile), JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const json = readModelJson(root);
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => readWeights(root, manifest));
    },
  };
}

export function readModelJson(folder: string): tf.io.ModelJSON {
  const path = join(folder, modelFile);
  if (!existsSync(path)) throw new DataError(path, 'no model.json here (expected a model saved in the tfjs layers format)');
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as tf.io.ModelJSON;
  } catch (error) {
    throw new DataError(path, `not valid JSON (${(error as Error).message})`);
  }
}

export function readWeights(folder: string, manifest: tf.io.WeightsManifestConfig): [tf.io.WeightsManifestEntry[], ArrayBuffer] {
  const specs = manifest.flatMap((group) => group.weights);
  const buffers = manifest.flatMap((group) =>
    group.paths.map((path) => {
      const file = join(folder, path);
      if (!existsSync(file)) throw new DataError(file, 'weights file listed in model.json is missing');
      const bytes = readFileSync(file);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    }),
  );
  return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
}

export async function saveModel(model: tf.LayersModel, folder: string): Promise<void> {
  await model.save(fileHandler(folder));
}

export async function loadModel(folder: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileHandler(folder));
}

/**
 * Loads weights saved by any model into `model`, matching by weight name (`stem_conv/kernel`).
 * Weights in the file that the model lacks (another head) are ignored; a model weight missing from the file, or of another shape,
 * is an error naming the first such layer.
 */
export function loadWeightsByName(model: tf.LayersModel, folder: string): void {
  const root = resolve(folder);
  const json = readModelJson(root);
  const [specs, data] = readWeights(root, json.weightsManifest);
  const tensors = tf.io.decodeWeights(data, specs);
  try {
    assignWeights(model, tensors, join(root, modelFile));
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/** Writes named tensors into the model's weights after checking every name and shape. */
export function assignWeights(model: tf.LayersModel, tensors: tf.NamedTensorMap, file: string): void {
  const assignments: Array<[tf.LayerVariable, tf.Tensor]> = [];
  for (const layer of model.layers) {
    for (const weight of layer.weights) {
      const tensor = tensors[weight.originalName];
      if (!tensor) {
        throw new DataError(file, `layer '${layer.name}': weight '${weight.originalName}' ${shapeText(weight.shape)} is not in the file`);
      }
      if (!tf.util.arraysEqual(tensor.shape, weight.shape as number[])) {
        throw new DataError(
          file,
          `layer '${layer.name}': weight '${weight.originalName}' has shape ${shapeText(tensor.shape)} in the file, the model expects ${shapeText(weight.shape)}`,
        );
      }
      assignments.push([weight, tensor]);
    }
  }
  for (const [weight, tensor] of assignments) weight.write(tensor);
}

function shapeText(shape: readonly (number | null)[]): string {
  return `[${shape.join(', ')}]`;
}
