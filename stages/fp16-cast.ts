// fp16-cast: samples carry IEEE binary16 (Uint16Array bit patterns) from here on: half the bytes of float32 in the queue. Compute stays float32.

import type { TabulatedSample } from '../src/data/samples.ts';
import { toFloat16Array } from '../src/math/fp16.ts';
import { mapStage, type Stage } from '../src/stream/stage.ts';

export function fp16Cast(): Stage<TabulatedSample, TabulatedSample> {
  return mapStage((sample) => ({ ...sample, dtype: 'float16', table: toFloat16Array(sample.table) }));
}
