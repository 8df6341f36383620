// streamfit's public API: stages to compose, the flow that composes them, definePipeline, and the types they exchange.

export type { TrainConfig } from './src/config/train-config.ts';
export { evaluationPreprocessing, type NormalizePreset, type Preprocessing, type ResizeFit } from './src/data/preprocessing.ts';
export type {
  Batch,
  DecodedSample,
  EncodedSample,
  ImagePlan,
  PixelSample,
  ResizedSample,
  SampleInfo,
  TabulatedSample,
} from './src/data/samples.ts';
export {
  ConfigError,
  DataError,
  FlagError,
  NothingToResume,
  NothingToTrain,
  OptionError,
  RunFolderInUse,
  StreamfitError,
  SystemError,
  TooManyQuarantined,
} from './src/errors.ts';
export { float16BitsToFloat32, float32ToFloat16Bits, fromFloat16Array, toFloat16Array } from './src/math/fp16.ts';
export { BufferPool } from './src/stream/buffer-pool.ts';
export { classifyError, type ErrorKind, type ErrorPolicy } from './src/stream/error-policy.ts';
export { Quarantine, type QuarantineEntry } from './src/stream/quarantine.ts';
export {
  describe,
  describedStage,
  Flow,
  flow,
  mapStage,
  type SourceStage,
  type Stage,
  type StageContext,
  type StageInfo,
} from './src/stream/stage.ts';
export { definePipeline, type PipelineDefinition } from './src/train/pipeline-definition.ts';
export { augment, augmentationOf } from './stages/augment.ts';
export { batch } from './stages/batch.ts';
export { decode } from './stages/decode.ts';
export { fp16Cast } from './stages/fp16-cast.ts';
export { normalize } from './stages/normalize.ts';
export { prefetch } from './stages/prefetch.ts';
export { preprocess } from './stages/preprocess.ts';
export { render } from './stages/render.ts';
export { resize } from './stages/resize.ts';
export { shuffle } from './stages/shuffle.ts';
export { type DatasetSource, source } from './stages/source.ts';
export { folderSource } from './stages/source-folder.ts';
export { manifestSource } from './stages/source-manifest.ts';
export { tarSource } from './stages/source-tar.ts';
export { split } from './stages/split.ts';
