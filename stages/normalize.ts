// Normalize: per-channel mean/std presets, stored as a 3 × 256 table that `batch` applies while writing the batch (one pass over the pixels).

import type { NormalizePreset } from '../src/data/preprocessing.ts';
import type { PixelSample, TabulatedSample } from '../src/data/samples.ts';
import { oneOf } from '../src/stream/options.ts';
import { mapStage, type Stage } from '../src/stream/stage.ts';

export type { NormalizePreset } from '../src/data/preprocessing.ts';

export interface NormalizeOptions {
  /** imagenet: (x/255 − mean)/std; unit: [0, 1]; symmetric: [−1, 1]; none: uint8 kept for on-device normalization. Default imagenet. */
  preset?: NormalizePreset;
}

const presets: Record<Exclude<NormalizePreset, 'none'>, { mean: number[]; std: number[] }> = {
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  unit: { mean: [0, 0, 0], std: [1, 1, 1] },
  symmetric: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
};

export function normalize(options: NormalizeOptions = {}): Stage<PixelSample, TabulatedSample<'float32' | 'uint8'>> {
  const preset = oneOf('normalize', 'preset', options.preset ?? 'imagenet', ['imagenet', 'unit', 'symmetric', 'none']);
  return mapStage(
    (sample): TabulatedSample<'float32' | 'uint8'> => {
      const { brightness, contrast, ...rest } = sample;
      const table = normalizationTable(preset, brightness, contrast);
      return table instanceof Uint8Array ? { ...rest, dtype: 'uint8', table } : { ...rest, dtype: 'float32', table };
    },
    { name: 'normalize', options: { preset } },
  );
}

/**
 * The value each 8-bit input takes, per channel: brightness and contrast jitter (contrast pivots on mid-grey,
 * clamped to [0, 255] like an 8-bit image), then the preset's (x/255 − mean)/std.
 */
export function normalizationTable(preset: NormalizePreset, brightness = 1, contrast = 1): Float32Array | Uint8Array {
  const table = preset === 'none' ? new Uint8Array(768) : new Float32Array(768);
  for (let channel = 0; channel < 3; channel++) {
    for (let value = 0; value < 256; value++) {
      const jittered = Math.min(255, Math.max(0, (value * brightness - 127.5) * contrast + 127.5));
      if (preset === 'none') {
        table[channel * 256 + value] = Math.round(jittered);
      } else {
        const { mean, std } = presets[preset];
        table[channel * 256 + value] = (jittered / 255 - mean[channel]) / std[channel];
      }
    }
  }
  return table;
}
