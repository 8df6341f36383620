// The evaluation preprocessing, defined once: what validation, the feature cache, predict and evaluate do to an image before
// the model sees it. It is data (stored in the saved model's metadata), so a model carries how to feed it.

import type { TrainConfig } from '../config/train-config.ts';
import { DataError } from '../errors.ts';

export type NormalizePreset = 'imagenet' | 'unit' | 'symmetric' | 'none';
export type ResizeFit = 'cover' | 'contain' | 'fill';

export interface Preprocessing {
  /** Side of the square input, in pixels. */
  imageSize: number;
  /** How the image reaches that square: cover (scale and centre-crop), contain (letterbox) or fill (stretch). */
  fit: ResizeFit;
  /** Per-channel normalization preset ('none' keeps uint8; EfficientNet normalizes inside the model). */
  normalize: NormalizePreset;
  /**
   * Binary16 storage in the host batch. Only for float presets: it halves their bytes and rounds them as training's
   * binary16 queue does; uint8 values are exact either way and half the size of binary16.
   */
  float16: boolean;
}

/** The evaluation preprocessing of a run: centre crop to the input size, the run's normalization, no augmentation. */
export function evaluationPreprocessing(config: Pick<TrainConfig, 'imageSize' | 'normalize'>): Preprocessing {
  return { imageSize: config.imageSize, fit: 'cover', normalize: config.normalize, float16: config.normalize !== 'none' };
}

/**
 * The preprocessing stored in a model's metadata; models saved before it was stored have only `imageSize` and
 * `normalize`, and were evaluated without binary16.
 */
export function storedPreprocessing(metadata: Record<string, unknown>, file: string): Preprocessing {
  const stored = metadata.preprocessing as Partial<Preprocessing> | undefined;
  const legacy = { imageSize: metadata.imageSize, fit: 'cover', normalize: metadata.normalize ?? 'none', float16: false };
  const spec = { ...legacy, ...stored } as Preprocessing;
  if (!Number.isInteger(spec.imageSize) || (spec.imageSize as number) < 1)
    throw new DataError(file, `metadata has no valid preprocessing.imageSize (got ${JSON.stringify(spec.imageSize)})`);
  return spec;
}
