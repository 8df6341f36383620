// Resize: plans the output size (default 600 px square, the EfficientNet-B7 input); `render` does it inside the decoder.

import type { DecodedSample } from '../src/data/samples.ts';
import { mapStage, type Stage } from '../src/stream/stage.ts';

export interface ResizeOptions {
  /** Side of the square output. Default 600. */
  size?: number;
  /** cover: scale and centre-crop; contain: scale and letterbox; fill: stretch. Default cover. */
  fit?: 'cover' | 'contain' | 'fill';
}

export function resize(options: ResizeOptions = {}): Stage<DecodedSample, DecodedSample> {
  const size = options.size ?? 600;
  const fit = options.fit ?? 'cover';
  return mapStage((sample) => ({ ...sample, plan: { ...sample.plan, resize: { width: size, height: size, fit } } }));
}
