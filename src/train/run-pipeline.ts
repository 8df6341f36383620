// A training run from a validated config, a pipeline and an opened dataset: backend, model factory, epoch streams, feature cache.

import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { requestedBackend, selectBackend } from '../backend/ladder.ts';
import type { TrainConfig } from '../config/train-config.ts';
import type { DatasetSource } from '../data/dataset-source.ts';
import { evaluationPreprocessing } from '../data/preprocessing.ts';
import { isValidationKey } from '../data/split-key.ts';
import { ConfigError } from '../errors.ts';
import { createModel } from '../models/create-model.ts';
import { findModel } from '../models/registry.ts';
import { ProgressReporter } from '../report/progress.ts';
import { Quarantine } from '../stream/quarantine.ts';
import { cachedHeadSpec, canUseFeatureCache } from './cached-head.ts';
import type { RunListener } from './listener.ts';
import type { PipelineDefinition } from './pipeline-definition.ts';
import { type RunSummary, runTraining } from './run.ts';
import { trainerStage } from './train-stage.ts';

const headLayers = new Set(['avg_pool', 'top_dropout', 'predictions']);

export interface RunOptions {
  /** The dataset named by `config.data`, opened by the caller (`source(config.data)`). */
  dataset: DatasetSource;
  /** Continue the run in `config.out` from its latest checkpoint. */
  resume: boolean;
  reporter?: ProgressReporter;
  /** Stops the run at the next micro-batch with a checkpoint; its reason (e.g. 'SIGTERM') goes into the summary. */
  signal?: AbortSignal;
  /** Listeners beside the standard ones (checkpointing, early stopping, metrics file, progress, report). */
  listeners?: RunListener[];
}

/** Everything a run needs from a validated config and a pipeline: backend, model factory, epoch streams. */
export async function runWithPipeline(config: TrainConfig, pipeline: PipelineDefinition, options: RunOptions): Promise<RunSummary> {
  const { dataset } = options;
  const backend = await selectBackend(requestedBackend(config.backend, process.env));
  const reporter = options.reporter ?? new ProgressReporter();
  reporter.message(
    `backend ${backend.name} ${backend.version} (${backend.threads} thread${backend.threads === 1 ? '' : 's'}${backend.simd ? ', SIMD' : ''})`,
    { backend },
  );
  checkEvaluationChain(pipeline, dataset, config);
  const trainSamples = await countTrainSamples(dataset, config);
  reporter.message(`${dataset.description}: ${dataset.classes.names.length} classes, ${trainSamples} training samples`);

  const runDir = resolve(config.out);
  const quarantine = new Quarantine(join(runDir, 'quarantine.jsonl'));
  quarantine.touch();
  const gauges = new Map<string, () => unknown>();
  const evaluationBatches = (subset: 'train' | 'validation', context: { epoch: number; quarantine: Quarantine }) =>
    pipeline.evaluate(dataset, config, { ...context, gauges: new Map() }, subset);
  const cachedHead = canUseFeatureCache(config)
    ? await cachedHeadSpec(config, dataset, trainSamples, quarantine, (text) => reporter.message(text), evaluationBatches)
    : {};
  return runTraining({
    config,
    resume: options.resume,
    backend,
    classes: dataset.classes.names,
    trainSamples,
    createModel: () =>
      createModel(config.model, {
        classes: dataset.classes.names.length,
        imageSize: config.imageSize,
        weights: config.weights,
        dropout: config.dropout,
        cutAt: config.cutAt,
      }),
    blocks: (model) => {
      const definition = findModel(config.model);
      return definition
        ? definition.blocks()
        : model.layers.filter((layer) => layer.weights.length > 0 && !headLayers.has(layer.name)).map((layer) => layer.name);
    },
    trainSteps: (epoch, trainer, skip) =>
      pipeline.train(dataset, config, { epoch, quarantine, gauges }).pipe(trainerStage({ trainer, skip })),
    validationBatches: (epoch) => evaluationBatches('validation', { epoch, quarantine: new Quarantine() }),
    quarantine,
    gauges,
    reporter,
    signal: options.signal,
    listeners: options.listeners,
    versions: versions(),
    ...cachedHead,
  });
}

/**
 * The saved model stores evaluationPreprocessing(config) for predict and evaluate, so the pipeline's evaluate must be that
 * preprocessing; a chain of its own would be validated one way and predicted another. Building the flow reads nothing.
 */
export function checkEvaluationChain(pipeline: PipelineDefinition, dataset: DatasetSource, config: TrainConfig): void {
  const stages = pipeline.evaluate(dataset, config, { epoch: 0, quarantine: new Quarantine() }, 'validation').stages;
  const expected = evaluationPreprocessing(config);
  const found = stages.find((stage) => stage.name === 'preprocess');
  const { batchSize, ...spec } = found?.options ?? {};
  void batchSize;
  if (!found || !isDeepStrictEqual(spec, expected)) {
    throw new ConfigError(
      'pipeline.evaluate',
      `must be split(...) then preprocess(evaluationPreprocessing(config), ...), the preprocessing the saved model stores for predict and evaluate (${JSON.stringify(expected)}); got ${stages.map((stage) => stage.name).join(' → ')}${found ? ` with ${JSON.stringify(spec)}` : ''}`,
    );
  }
}

/** Training samples in one epoch, by the same key hash as the pipeline's split (no image is read). */
async function countTrainSamples(dataset: DatasetSource, config: TrainConfig): Promise<number> {
  let count = 0;
  for await (const sample of dataset({ epoch: 0, quarantine: new Quarantine() }))
    if (!isValidationKey(sample.key, config.validation, config.seed)) count++;
  return count;
}

function versions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  return {
    streamfit: (require('../../package.json') as { version: string }).version,
    node: process.version,
    tfjs: tf.version.tfjs,
    sharp: sharp.versions.sharp ?? '',
  };
}
