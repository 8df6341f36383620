// fp16-cast: samples carry IEEE binary16 (Uint16Array bit patterns) from here on: half the bytes of float32 in the queue. Compute stays float32.

import type { TabulatedSample } from '../src/data/samples.ts';
import { toFloat16Array } from '../src/math/fp16.ts';
import { mapStage, type Stage } from '../src/stream/stage.ts';

/** Takes float32 or uint8 samples only: a second cast does not compile. */
export function fp16Cast(): Stage<TabulatedSample<'float32' | 'uint8'>, TabulatedSample<'float16'>> {
  return mapStage((sample): TabulatedSample<'float16'> => ({ ...sample, dtype: 'float16', table: toFloat16Array(sample.table) }), {
    name: 'fp16Cast',
    options: {},
  });
}
