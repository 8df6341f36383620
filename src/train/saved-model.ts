// A model saved by `streamfit train` (runs/<name>/model): the classes it predicts and the preprocessing it was evaluated with,
// both in its metadata.

import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../config/train-config.ts';
import { evaluationPreprocessing, type Preprocessing, storedPreprocessing } from '../data/preprocessing.ts';
import { DataError } from '../errors.ts';
import { loadModel } from '../models/weights-io.ts';

export interface SavedModel {
  model: tf.LayersModel;
  classes: string[];
  preprocessing: Preprocessing;
}

/** What `train` stores in the model's user-defined metadata. */
export function savedModelMetadata(config: TrainConfig, classes: readonly string[]): { streamfit: Record<string, unknown> } {
  return { streamfit: { classes, model: config.model, preprocessing: evaluationPreprocessing(config) } };
}

export async function loadSavedModel(folder: string): Promise<SavedModel> {
  const model = await loadModel(folder);
  const file = join(folder, 'model.json');
  const metadata = (model.getUserDefinedMetadata() as { streamfit?: Record<string, unknown> } | undefined)?.streamfit;
  try {
    if (!Array.isArray(metadata?.classes))
      throw new DataError(file, 'has no streamfit metadata (classes, preprocessing): use a model saved by `streamfit train`');
    return { model, classes: metadata.classes as string[], preprocessing: storedPreprocessing(metadata, file) };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
