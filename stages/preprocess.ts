// Preprocess: the evaluation chain of a stored Preprocessing — decode → resize → render → normalize → (fp16Cast) → batch →
// prefetch — so validation, the feature cache, predict and evaluate cannot drift apart.

import type { Preprocessing } from '../src/data/preprocessing.ts';
import type { Batch, EncodedSample, TabulatedSample } from '../src/data/samples.ts';
import { Flow, type Stage } from '../src/stream/stage.ts';
import { batch } from './batch.ts';
import { decode } from './decode.ts';
import { fp16Cast } from './fp16-cast.ts';
import { normalize } from './normalize.ts';
import { prefetch } from './prefetch.ts';
import { render } from './render.ts';
import { resize } from './resize.ts';

export interface PreprocessOptions {
  /** Images per batch. */
  batchSize: number;
  /** Bytes the prefetch queue holds at most. Default 64 MiB. */
  maxBytes?: number;
}

export function preprocess(spec: Preprocessing, options: PreprocessOptions): Stage<EncodedSample, Batch> {
  return (source, context) => {
    const normalized = new Flow(source, context)
      .pipe(decode())
      .pipe(resize({ size: spec.imageSize, fit: spec.fit }))
      .pipe(render())
      .pipe(normalize({ preset: spec.normalize }));
    const tabulated: Flow<TabulatedSample> = spec.float16 ? normalized.pipe(fp16Cast()) : normalized;
    return tabulated.pipe(batch({ size: options.batchSize })).pipe(prefetch({ maxBytes: options.maxBytes ?? 64 * 2 ** 20 }));
  };
}
