// Augment: random resized crop, horizontal flip, rotation and colour jitter, seeded by (seed, epoch, key) so results never depend on timing.

import { randomResizedCropBox } from '../src/data/crop-box.ts';
import type { ResizedSample } from '../src/data/samples.ts';
import { seededRandom } from '../src/math/random.ts';
import { boolean, integer, numberIn, rangeIn } from '../src/stream/options.ts';
import { mapStage, type Stage } from '../src/stream/stage.ts';

export interface AugmentOptions {
  seed?: number;
  /** Random resized crop: fraction of the area and aspect-ratio range, or false. Default {scale: [0.08, 1], ratio: [3/4, 4/3]}. */
  crop?: { scale: [number, number]; ratio: [number, number] } | false;
  /** Mirror left-right half the time. Default true. */
  flip?: boolean;
  /** Largest rotation in degrees, either way. Default 0 (off: it costs a second pass). */
  rotate?: number;
  /** Colour jitter strengths: a factor drawn from [1 - s, 1 + s]. Defaults 0.2, 0.2, 0 (saturation costs a colour-space pass). */
  brightness?: number;
  contrast?: number;
  saturation?: number;
}

/**
 * Augmentation options from one strength in [0, 1] (a sweepable knob): 0 is none; 1 is random resized crops down to
 * `minimumCropScale` of the area, flips, and ±20% brightness and contrast.
 */
export function augmentationOf(strength: number, minimumCropScale = 0.5): AugmentOptions {
  if (strength <= 0) return { crop: false, flip: false, brightness: 0, contrast: 0 };
  return {
    crop: { scale: [minimumCropScale + (1 - strength) * (1 - minimumCropScale), 1], ratio: [3 / 4, 4 / 3] }, // exact at strength 1
    flip: true,
    brightness: 0.2 * strength,
    contrast: 0.2 * strength,
  };
}

/** Takes resized samples only: a resize after it would undo the crop's fit (the compiler refuses that order). */
export function augment(options: AugmentOptions = {}): Stage<ResizedSample, ResizedSample> {
  const seed = integer('augment', 'seed', options.seed ?? 0);
  const crop = checkCrop(options.crop ?? { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] });
  const flip = boolean('augment', 'flip', options.flip ?? true);
  const rotate = numberIn('augment', 'rotate', options.rotate ?? 0, 0, 180);
  const brightness = numberIn('augment', 'brightness', options.brightness ?? 0.2, 0, 1);
  const contrast = numberIn('augment', 'contrast', options.contrast ?? 0.2, 0, 1);
  const saturation = numberIn('augment', 'saturation', options.saturation ?? 0, 0, 1);
  const info = { name: 'augment', options: { seed, crop, flip, rotate, brightness, contrast, saturation } };

  return mapStage((sample, context) => {
    const random = seededRandom(seed, context.epoch, sample.key);
    const jitter = (strength: number) => (strength > 0 ? 1 - strength + 2 * strength * random() : 1);
    const plan = { ...sample.plan };
    if (crop) {
      plan.crop = randomResizedCropBox(sample.width, sample.height, crop.scale, crop.ratio, random);
      // The crop replaces resize's own centre crop: the box is stretched to the output size.
      plan.resize = { ...plan.resize, fit: 'fill' };
    }
    if (flip && random() < 0.5) plan.flip = true;
    if (rotate > 0) plan.rotate = (2 * random() - 1) * rotate;
    plan.brightness = jitter(brightness);
    plan.contrast = jitter(contrast);
    if (saturation > 0) plan.saturation = jitter(saturation);
    return { ...sample, plan };
  }, info);
}

function checkCrop(crop: AugmentOptions['crop']): AugmentOptions['crop'] {
  if (crop === false) return false;
  return {
    scale: rangeIn('augment', 'crop.scale', crop?.scale, Number.MIN_VALUE, 1),
    ratio: rangeIn('augment', 'crop.ratio', crop?.ratio, Number.MIN_VALUE, Infinity),
  };
}
