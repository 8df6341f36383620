// The shape of a pipeline file (pipelines/*.ts): config defaults plus the functions that build each epoch's batch streams.

import type { TrainConfig } from '../config/train-config.ts';
import type { DatasetSource } from '../data/dataset-source.ts';
import type { Batch } from '../data/samples.ts';
import type { Subset } from '../data/split-key.ts';
import type { Flow, StageContext } from '../stream/stage.ts';

export interface PipelineDefinition {
  /** Defaults for this pipeline; command-line flags override them. */
  config: Partial<TrainConfig>;
  /** One epoch of training batches (`context.epoch` seeds shuffling and augmentation). */
  train(dataset: DatasetSource, config: TrainConfig, context: StageContext): Flow<Batch>;
  /**
   * One side of the split under the evaluation preprocessing, no shuffling, no augmentation: the validation batches of
   * every epoch, and both sides for the feature cache.
   */
  evaluate(dataset: DatasetSource, config: TrainConfig, context: StageContext, subset: Subset): Flow<Batch>;
}

/** Identity, for type checking: `export const pipeline = definePipeline({...})`. */
export function definePipeline(definition: PipelineDefinition): PipelineDefinition {
  return definition;
}
