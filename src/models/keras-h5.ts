// Reads Keras weight files (.h5, as saved by model.save_weights or keras.applications) for streamfit's built-in models,
// matching layers by name. Uses h5wasm (HDF5 compiled to WebAssembly), so no Python or TensorFlow is needed.

import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { DataError } from '../errors.ts';

// Keras ≥ 2.10 stores these standard deviations as the 'variance' of EfficientNet's Normalization layer and divides once
// more in a weightless Rescaling layer; streamfit's model has only the Normalization, so it needs the true variances.
const imagenetStddev = [0.229, 0.224, 0.225];

export interface KerasWeights {
  tensors: tf.NamedTensorMap;
  /** Whether the normalization variance was the Keras ≥ 2.10 standard deviation and has been squared. */
  squaredNormalization: boolean;
}

interface H5Node {
  attrs: Record<string, { value: unknown }>;
}
interface H5Dataset extends H5Node {
  shape: number[];
  value: ArrayLike<number>;
}
interface H5File extends H5Node {
  get(path: string): H5Node | H5Dataset | null;
  keys(): string[];
  close(): void;
}

/** Every weight in the file as `layer/weight` (e.g. `block1a_dwconv/depthwise_kernel`), the names tfjs layers use. */
export async function readKerasWeights(file: string): Promise<KerasWeights> {
  if (!existsSync(file)) throw new DataError(file, 'no such file');
  if (!hasHdf5Signature(file)) throw new DataError(file, 'not an HDF5 file (no HDF5 signature)');
  const h5wasm = (await import('h5wasm/node')).default;
  await h5wasm.ready;
  let h5: H5File;
  try {
    h5 = new h5wasm.File(file, 'r') as unknown as H5File;
  } catch (error) {
    throw new DataError(file, `not an HDF5 file (${(error as Error).message})`);
  }
  try {
    // A whole saved model keeps its weights under 'model_weights'; model.save_weights puts them at the root.
    const root = h5.attrs.layer_names ? '' : h5.keys().includes('model_weights') ? 'model_weights/' : undefined;
    const rootNode = root === undefined ? undefined : root ? h5.get('model_weights') : h5;
    const layerNames = rootNode?.attrs.layer_names?.value as string[] | undefined;
    if (!layerNames) throw new DataError(file, "not a Keras weights file (no 'layer_names' attribute)");
    const tensors: tf.NamedTensorMap = {};
    for (const layer of layerNames) {
      const group = h5.get(`${root}${layer}`);
      const weightNames = (group?.attrs.weight_names?.value as string[] | undefined) ?? [];
      for (const weightName of weightNames) {
        const dataset = h5.get(`${root}${layer}/${weightName}`) as H5Dataset | null;
        if (!dataset) throw new DataError(file, `layer '${layer}' lists weight '${weightName}' but the file has no such dataset`);
        const shortName = weightName.split('/').pop()!.replace(/:\d+$/, '');
        const value = dataset.value as ArrayLike<number> | number; // a scalar dataset (Normalization's count) reads as a number
        tensors[`${layer}/${shortName}`] = tf.tensor(typeof value === 'number' ? [value] : Float32Array.from(value), dataset.shape);
      }
    }
    const squaredNormalization = squareStddevVariance(tensors);
    return { tensors, squaredNormalization };
  } finally {
    h5.close();
  }
}

/** HDF5's 8-byte signature sits at offset 0, or after a user block at 512, 1024, 2048 … bytes. */
function hasHdf5Signature(file: string): boolean {
  const signature = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
  const bytes = Buffer.alloc(8192);
  const handle = openSync(file, 'r');
  try {
    readSync(handle, bytes, 0, bytes.length, 0);
  } finally {
    closeSync(handle);
  }
  return [0, 512, 1024, 2048, 4096].some((offset) => bytes.subarray(offset, offset + 8).equals(signature));
}

function squareStddevVariance(tensors: tf.NamedTensorMap): boolean {
  const variance = tensors['normalization/variance'];
  if (!variance) return false;
  const values = variance.dataSync();
  const isStddev = values.length === 3 && imagenetStddev.every((stddev, i) => Math.abs(values[i] - stddev) < 1e-4);
  if (!isStddev) return false;
  tensors['normalization/variance'] = tf.square(variance);
  variance.dispose();
  return true;
}
