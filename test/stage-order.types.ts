// Type test, checked by `tsc` in `make typecheck` (and so `make test`): each `@ts-expect-error` below must be an error, or
// tsc fails with "Unused '@ts-expect-error' directive". The compiler itself is the assertion; nothing here runs.

import type { Batch, EncodedSample, PixelSample } from '../src/data/samples.ts';
import { type Flow, flow, type SourceStage, type StageContext } from '../src/stream/stage.ts';
import { augment } from '../stages/augment.ts';
import { batch } from '../stages/batch.ts';
import { decode } from '../stages/decode.ts';
import { fp16Cast } from '../stages/fp16-cast.ts';
import { normalize } from '../stages/normalize.ts';
import { prefetch } from '../stages/prefetch.ts';
import { render } from '../stages/render.ts';
import { resize } from '../stages/resize.ts';
import { shuffle } from '../stages/shuffle.ts';
import { split } from '../stages/split.ts';

declare const source: SourceStage<EncodedSample>;
declare const context: StageContext;
const start = () => flow(source, context);

// The order the diagram draws compiles, and gives batches.
export const whole: Flow<Batch> = start()
  .pipe(split({ subset: 'train' }))
  .pipe(shuffle({ bufferSize: 100 }))
  .pipe(decode())
  .pipe(resize({ size: 64 }))
  .pipe(augment())
  .pipe(render())
  .pipe(normalize())
  .pipe(fp16Cast())
  .pipe(batch({ size: 8 }))
  .pipe(prefetch());

// A stage of the user's own between render and normalize compiles (the README's dropBlank).
declare function dropBlank(): (samples: AsyncIterable<PixelSample>, context: StageContext) => AsyncIterable<PixelSample>;
export const custom = start()
  .pipe(decode())
  .pipe(resize())
  .pipe(render())
  .pipe(dropBlank())
  .pipe(normalize())
  .pipe(batch({ size: 8 }));

// augment before resize: resize would overwrite the crop's fit.
// @ts-expect-error augment takes resized samples only
export const augmentFirst = start().pipe(decode()).pipe(augment()).pipe(resize());

// A second decode.
// @ts-expect-error decode takes encoded samples only, and a decoded sample has a format
export const decodeTwice = start().pipe(decode()).pipe(decode());

// A second fp16Cast.
// @ts-expect-error fp16Cast takes float32 or uint8 samples only
export const castTwice = start().pipe(decode()).pipe(resize()).pipe(render()).pipe(normalize()).pipe(fp16Cast()).pipe(fp16Cast());

// prefetch before batch: the queue is bounded in bytes, which only batches carry.
// @ts-expect-error prefetch takes sized items (batches)
export const prefetchFirst = start().pipe(decode()).pipe(resize()).pipe(render()).pipe(normalize()).pipe(prefetch());

// A chain with no resize.
// @ts-expect-error render takes resized samples only
export const noResize = start().pipe(decode()).pipe(render());

// normalize straight after decode (the pixels are not decoded yet).
// @ts-expect-error normalize takes pixels
export const normalizeTooSoon = start().pipe(decode()).pipe(normalize());
