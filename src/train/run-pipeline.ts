// A training run from a validated config, a pipeline and an opened dataset: backend, model factory, epoch streams, feature cache.

import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { requestedBackend, selectBackend } from '../backend/ladder.ts';
import { accumulateOf, type TrainConfig } from '../config/train-config.ts';
import type { DatasetSource } from '../data/dataset-source.ts';
import { evaluationPreprocessing } from '../data/preprocessing.ts';
import { isValidationKey } from '../data/split-key.ts';
import { ConfigError, NothingToTrain } from '../errors.ts';
import { seededRandom } from '../math/random.ts';
import { createModel } from '../models/create-model.ts';
import { findModel } from '../models/registry.ts';
import { ProgressReporter } from '../report/progress.ts';
import { Quarantine } from '../stream/quarantine.ts';
import { shuffleBuffer } from '../stream/shuffle-buffer.ts';
import type { StageContext } from '../stream/stage.ts';
import { cachedHeadSpec, canUseFeatureCache } from './cached-head.ts';
import type { RunListener } from './listener.ts';
import { claimOutputFolder } from './output-folder.ts';
import type { PipelineDefinition } from './pipeline-definition.ts';
import { type RunSummary, runTraining } from './run.ts';
import { trainerStage } from './train-stage.ts';
import { idleCoresHint, resolveWorkerSlots } from './workers/worker-slots.ts';

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

/**
 * Everything a run needs from a validated config and a pipeline: claims the run folder (refusing one it must not write, or
 * one another process writes), refuses data that cannot teach anything, then the backend, model factory, epoch streams.
 */
export async function runWithPipeline(config: TrainConfig, pipeline: PipelineDefinition, options: RunOptions): Promise<RunSummary> {
  const claim = claimOutputFolder(config.out, 'run', { data: config.data, resume: options.resume });
  try {
    return await runInFolder(config, pipeline, options);
  } finally {
    claim.release();
  }
}

async function runInFolder(config: TrainConfig, pipeline: PipelineDefinition, options: RunOptions): Promise<RunSummary> {
  const { dataset } = options;
  // Refusals come first, so a run that cannot teach anything says one line and nothing else.
  checkEvaluationChain(pipeline, dataset, config);
  const census = await countSamples(dataset, config);
  checkTrainable(dataset, config, census);
  const trainSamples = census.train;
  const validationSamples = census.validation;
  const backend = await selectBackend(requestedBackend(config.backend, process.env));
  // A head on cached features is a few matrix products a step: it trains in this thread.
  const workers = canUseFeatureCache(config)
    ? resolveWorkerSlots(1, backend.name, 1)
    : resolveWorkerSlots(config.workers, backend.name, accumulateOf(config));
  const reporter = options.reporter ?? new ProgressReporter();
  const parallel = workers.length > 1 ? `, ${workers.length} data-parallel workers of micro-batch ${config.microBatch}` : '';
  reporter.message(
    `backend ${backend.name} ${backend.version} (${backend.threads} thread${backend.threads === 1 ? '' : 's'}${backend.simd ? ', SIMD' : ''})${parallel}`,
    { backend, workers: workers.length },
  );
  const hint = workers.length === 1 && !canUseFeatureCache(config) ? idleCoresHint(config.workers, backend.name, config) : undefined;
  if (hint) reporter.message(hint);
  reporter.message(
    `${dataset.description}: ${dataset.classes.names.length} classes, ${census.train} training and ${census.validation} validation samples`,
  );

  const runDir = resolve(config.out);
  const quarantine = new Quarantine(join(runDir, 'quarantine.jsonl'));
  quarantine.touch();
  if (options.resume) quarantine.load(); // the files quarantined before the interruption are not counted or written again
  quarantine.setLimit({ files: census.train + census.validation, share: config.maxQuarantined });
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
    workers,
    classes: dataset.classes.names,
    trainSamples,
    validationSamples,
    createModel: () =>
      createModel(config.model, {
        classes: dataset.classes.names.length,
        imageSize: config.imageSize,
        weights: config.weights,
        dropout: config.dropout,
        cutAt: config.cutAt,
        seed: config.seed,
      }),
    blocks: (model) => {
      const definition = findModel(config.model);
      return definition
        ? definition.blocks()
        : model.layers.filter((layer) => layer.weights.length > 0 && !headLayers.has(layer.name)).map((layer) => layer.name);
    },
    trainSteps: (epoch, trainer, skip) =>
      pipeline.train(dataset, config, { epoch, seed: config.seed, quarantine, gauges }).pipe(trainerStage({ trainer, skip })),
    // Validation records into the run's quarantine too: a file that cannot be decoded is reported whichever side it is on.
    validationBatches: (epoch) => evaluationBatches('validation', { epoch, quarantine }),
    // Precise BN: training samples under the evaluation preprocessing (no augmentation), shuffled, so the first batches are
    // a sample of every class and not the first folder's. Its files were already counted by training: a private quarantine.
    statisticsBatches: (epoch) =>
      pipeline.evaluate(
        shuffledDataset(dataset, config, epoch),
        config,
        { epoch, quarantine: new Quarantine(), gauges: new Map() },
        'train',
      ),
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

/** Samples on each side of the split and in each class, by the same key hash as the pipeline's split (no image is read). */
export interface SampleCensus {
  train: number;
  validation: number;
  perClass: number[];
}

async function countSamples(dataset: DatasetSource, config: TrainConfig): Promise<SampleCensus> {
  const census: SampleCensus = { train: 0, validation: 0, perClass: dataset.classes.names.map(() => 0) };
  for await (const sample of dataset({ epoch: 0, quarantine: new Quarantine() })) {
    if (isValidationKey(sample.key, config.validation, config.seed)) census.validation++;
    else census.train++;
    if (sample.classIndex >= 0) census.perClass[sample.classIndex]++;
  }
  return census;
}

/**
 * Refuses a run that cannot teach anything, before any work: fewer than two classes with images, a class with none (it
 * would become an output of the head that no sample teaches), or a side of the split left empty.
 */
export function checkTrainable(dataset: DatasetSource, config: Pick<TrainConfig, 'validation'>, census: SampleCensus): void {
  const names = dataset.classes.names;
  const filled = names.filter((_, index) => census.perClass[index] > 0);
  const empty = names.filter((_, index) => census.perClass[index] === 0);
  const refuse = (reason: string) => new NothingToTrain(dataset.description, reason);
  if (filled.length < 2)
    throw refuse(
      `a classifier needs at least 2 classes with images; found ${filled.length}${filled.length ? ` (${filled.join(', ')})` : ''}${empty.length ? `, and ${empty.length} without images (${quoted(empty)})` : ''}`,
    );
  if (empty.length > 0)
    throw refuse(
      `class${empty.length === 1 ? '' : 'es'} ${quoted(empty)} ${empty.length === 1 ? 'has' : 'have'} no images: the head would get an output no sample teaches; add images or remove the folder`,
    );
  const total = census.train + census.validation;
  if (census.train === 0)
    throw refuse(`no training samples after the split: all ${total} fall on the validation side (validation ${config.validation})`);
  if (census.validation === 0)
    throw refuse(
      `no validation samples after the split: none of the ${total} samples falls on the validation side (validation ${config.validation}); add images or raise validation`,
    );
}

function quoted(names: string[]): string {
  return names.map((name) => `'${name}'`).join(', ');
}

/** The dataset in an order shuffled by (seed, epoch) through a buffer of `shuffleBuffer` samples (encoded: small). */
function shuffledDataset(dataset: DatasetSource, config: TrainConfig, epoch: number): DatasetSource {
  const shuffled = (context: StageContext) =>
    shuffleBuffer(dataset(context), config.shuffleBuffer, seededRandom(config.seed, epoch, 'precise-bn'));
  return Object.assign(shuffled, { classes: dataset.classes, description: dataset.description });
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
