// A model saved by `streamfit train` (runs/<name>/model) with the preprocessing it was trained with.

import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { DatasetSource } from '../src/data/dataset-source.ts';
import type { Batch } from '../src/data/samples.ts';
import { DataError } from '../src/errors.ts';
import { loadModel } from '../src/models/weights-io.ts';
import { flow, type StageContext } from '../src/stream/stage.ts';
import { batch } from '../stages/batch.ts';
import { decode } from '../stages/decode.ts';
import { type NormalizePreset, normalize } from '../stages/normalize.ts';
import { prefetch } from '../stages/prefetch.ts';
import { render } from '../stages/render.ts';
import { resize } from '../stages/resize.ts';

export interface SavedModel {
  model: tf.LayersModel;
  classes: string[];
  imageSize: number;
  normalize: NormalizePreset;
}

export async function loadSavedModel(folder: string): Promise<SavedModel> {
  const model = await loadModel(folder);
  const metadata = (model.getUserDefinedMetadata() as { streamfit?: Partial<SavedModel> } | undefined)?.streamfit;
  if (!metadata?.classes || !metadata.imageSize) {
    model.dispose();
    throw new DataError(
      join(folder, 'model.json'),
      'has no streamfit metadata (classes, imageSize): use a model saved by `streamfit train`',
    );
  }
  return { model, classes: metadata.classes, imageSize: metadata.imageSize, normalize: metadata.normalize ?? 'none' };
}

/** The validation preprocessing of a training run: centre crop to the model's size, no augmentation. */
export function inferenceBatches(
  dataset: DatasetSource,
  saved: SavedModel,
  context: StageContext,
  batchSize: number,
): AsyncIterable<Batch> {
  return flow(dataset, context)
    .pipe(decode())
    .pipe(resize({ size: saved.imageSize }))
    .pipe(render())
    .pipe(normalize({ preset: saved.normalize }))
    .pipe(batch({ size: batchSize }))
    .pipe(prefetch({ maxBytes: 64 * 2 ** 20 }));
}
