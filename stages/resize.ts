// Resize: plans the output size (default 600 px square, the EfficientNet-B7 input); `render` does it inside the decoder.

import type { ResizeFit } from '../src/data/preprocessing.ts';
import type { DecodedSample, ResizedSample } from '../src/data/samples.ts';
import { oneOf, wholeFrom } from '../src/stream/options.ts';
import { mapStage, type Stage } from '../src/stream/stage.ts';

export interface ResizeOptions {
  /** Side of the square output. Default 600. */
  size?: number;
  /** cover: scale and centre-crop; contain: scale and letterbox; fill: stretch. Default cover. */
  fit?: ResizeFit;
}

export function resize(options: ResizeOptions = {}): Stage<DecodedSample, ResizedSample> {
  const size = wholeFrom('resize', 'size', options.size ?? 600, 1);
  const fit = oneOf('resize', 'fit', options.fit ?? 'cover', ['cover', 'contain', 'fill']);
  return mapStage((sample) => ({ ...sample, plan: { ...sample.plan, resize: { width: size, height: size, fit } } }), {
    name: 'resize',
    options: { size, fit },
  });
}
