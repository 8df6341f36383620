// Preprocess: the evaluation chain of a stored Preprocessing — decode → resize → render → normalize → (fp16Cast) → batch →
// prefetch — so validation, the feature cache, predict and evaluate cannot drift apart.

import type { Preprocessing } from '../src/data/preprocessing.ts';
import type { Batch, EncodedSample, TabulatedSample } from '../src/data/samples.ts';
import { wholeFrom } from '../src/stream/options.ts';
import { describedStage, Flow, type Stage } from '../src/stream/stage.ts';
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
  // The stages are made (and their options checked) here, once; each call of the stage chains them over a new source.
  const stages = {
    decode: decode(),
    resize: resize({ size: spec.imageSize, fit: spec.fit }),
    render: render(),
    normalize: normalize({ preset: spec.normalize }),
    fp16Cast: spec.float16 ? fp16Cast() : undefined,
    batch: batch({ size: wholeFrom('preprocess', 'batchSize', options?.batchSize, 1) }),
    prefetch: prefetch<Batch>({ maxBytes: options?.maxBytes ?? 64 * 2 ** 20 }),
  };
  const inner = Object.values(stages).flatMap((stage) => (stage?.info ? [stage.info] : []));
  const info = { name: 'preprocess', options: { ...spec, batchSize: options?.batchSize }, stages: inner };
  return describedStage(info, (source, context) => {
    const normalized = new Flow(source, context).pipe(stages.decode).pipe(stages.resize).pipe(stages.render).pipe(stages.normalize);
    const tabulated: Flow<TabulatedSample> = stages.fp16Cast ? normalized.pipe(stages.fp16Cast) : normalized;
    return tabulated.pipe(stages.batch).pipe(stages.prefetch);
  });
}
