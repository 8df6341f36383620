// streamfit's public API: stages to compose, the flow that composes them, and the types they exchange.

export { flow, Flow, mapStage, type Stage, type SourceStage, type StageContext } from './src/stream/stage.ts';
export { Quarantine, type QuarantineEntry } from './src/stream/quarantine.ts';
export { BufferPool } from './src/stream/buffer-pool.ts';
export { DataError, ConfigError, FlagError, StreamfitError } from './src/errors.ts';
export type { Batch, DecodedSample, EncodedSample, PixelSample, TabulatedSample, SampleInfo, ImagePlan } from './src/data/samples.ts';
export { float32ToFloat16Bits, float16BitsToFloat32, toFloat16Array, fromFloat16Array } from './src/math/fp16.ts';
export { source, type DatasetSource } from './stages/source.ts';
export { folderSource } from './stages/source-folder.ts';
export { manifestSource } from './stages/source-manifest.ts';
export { tarSource } from './stages/source-tar.ts';
export { split } from './stages/split.ts';
export { shuffle } from './stages/shuffle.ts';
export { decode } from './stages/decode.ts';
export { resize } from './stages/resize.ts';
export { augment } from './stages/augment.ts';
export { render } from './stages/render.ts';
export { normalize } from './stages/normalize.ts';
export { fp16Cast } from './stages/fp16-cast.ts';
export { batch } from './stages/batch.ts';
export { prefetch } from './stages/prefetch.ts';
