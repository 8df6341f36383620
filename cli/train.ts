// `streamfit train`: a pipeline file and flags → a validated config → a training run in runs/<name>/.

import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { requestedBackend, selectBackend } from '../src/backend/ladder.ts';
import { formatBytes, parseBytes } from '../src/config/bytes.ts';
import type { TrainConfig } from '../src/config/train-config.ts';
import { ConfigError } from '../src/errors.ts';
import { planAlternatives, suggestion } from '../src/memory/alternatives.ts';
import { planMemory, profileModel } from '../src/memory/planner.ts';
import { createModel } from '../src/models/create-model.ts';
import { findModel } from '../src/models/registry.ts';
import { ProgressReporter } from '../src/report/progress.ts';
import { Quarantine } from '../src/stream/quarantine.ts';
import { flow } from '../src/stream/stage.ts';
import type { PipelineDefinition } from '../src/train/pipeline-definition.ts';
import { type RunSummary, runTraining } from '../src/train/run.ts';
import { type DatasetSource, source } from '../stages/source.ts';
import { split } from '../stages/split.ts';
import { train } from '../stages/train.ts';
import { parseFlags, report } from './args.ts';
import { cachedHeadSpec, canUseFeatureCache } from './cached-head.ts';
import { configFromFlags, defaultPipelineFile, loadPipeline, resolveRunConfig, runFlags } from './run-config.ts';

const headLayers = new Set(['avg_pool', 'top_dropout', 'predictions']);

export async function trainCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, { ...runFlags, resume: { type: 'boolean' } });
  const pipeline = await loadPipeline(values.config ?? defaultPipelineFile);
  const flags = configFromFlags(values);
  const resumeDir = values.resume
    ? resolve(String(flags.out ?? pipeline.config.out ?? join('runs', String(flags.name ?? pipeline.config.name ?? ''))))
    : undefined;
  const resolved = resolveRunConfig(pipeline, flags, resumeDir);
  const config = resolved.planner && !values.resume ? await applyMemoryPlan(resolved) : resolved;
  const summary = await runWithPipeline(config, pipeline, { resume: Boolean(values.resume) });
  const lines = [
    `run ${summary.status}: ${summary.epochs} epoch${summary.epochs === 1 ? '' : 's'}, best epoch ${summary.bestEpoch ?? '–'}, validation accuracy ${summary.valAccuracy === null ? '–' : `${(summary.valAccuracy * 100).toFixed(1)}%`}`,
    `report: ${summary.reportPath}`,
  ];
  report(values.json, summary, lines.join('\n'));
  if (summary.status === 'interrupted') process.exitCode = summary.signal === 'SIGTERM' ? 143 : 130;
}

export interface RunOptions {
  resume: boolean;
  reporter?: ProgressReporter;
  /** Micro-batch split chosen by the memory planner. */
  plannedSplit?: number;
}

/** Everything a run needs from a validated config and a pipeline: backend, dataset, model factory, epoch streams. */
export async function runWithPipeline(config: TrainConfig, pipeline: PipelineDefinition, options: RunOptions): Promise<RunSummary> {
  const backend = await selectBackend(requestedBackend(config.backend, process.env));
  const reporter = options.reporter ?? new ProgressReporter();
  reporter.message(
    `backend ${backend.name} ${backend.version} (${backend.threads} thread${backend.threads === 1 ? '' : 's'}${backend.simd ? ', SIMD' : ''})`,
    { backend },
  );
  const dataset = await source(config.data);
  const trainSamples = await countTrainSamples(dataset, config);
  reporter.message(`${dataset.description}: ${dataset.classes.names.length} classes, ${trainSamples} training samples`);

  const runDir = resolve(config.out);
  const quarantine = new Quarantine(join(runDir, 'quarantine.jsonl'));
  quarantine.touch();
  const gauges = new Map<string, () => unknown>();
  const stop: { requested: boolean; signal?: NodeJS.Signals } = { requested: false };
  const onSignal = (signal: NodeJS.Signals) => {
    stop.requested = true;
    stop.signal = signal;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const cachedHead = canUseFeatureCache(config)
    ? await cachedHeadSpec(config, dataset, trainSamples, quarantine, (text) => reporter.message(text))
    : {};
  try {
    return await runTraining({
      config,
      resume: options.resume,
      backend,
      classes: dataset.classes.names,
      trainSamples,
      plannedSplit: options.plannedSplit,
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
      trainSteps: (epoch, trainer, skip) => pipeline.train(dataset, config, { epoch, quarantine, gauges }).pipe(train({ trainer, skip })),
      validationBatches: (epoch) => pipeline.validate(dataset, config, { epoch, quarantine: new Quarantine(), gauges: new Map() }),
      gauges,
      reporter,
      stop,
      versions: versions(),
      ...cachedHead,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Picks micro-batch, accumulation and recomputation for the --memory budget before the first step, keeping
 * microBatch × accumulate as the effective batch. Plans for the phase that trains the most (the fine-tuning one).
 */
export async function applyMemoryPlan(config: TrainConfig): Promise<TrainConfig> {
  if (!config.memory) throw new ConfigError('memory', 'the planner needs a budget: pass --memory (e.g. 8GiB)');
  const budget = parseBytes(config.memory)!;
  await selectBackend(requestedBackend(config.backend, process.env));
  const freeze = !config.weights ? 'none' : config.fineTuneEpochs > 0 ? { trainTopBlocks: config.fineTuneBlocks } : 'all';
  const { model } = await createModel(config.model, { classes: 2, imageSize: config.imageSize, freeze, cutAt: config.cutAt });
  const batchSize = config.microBatch * config.accumulate;
  const plan = planMemory(profileModel(model), budget, batchSize, config.optimizer);
  model.dispose();
  if (!plan.fits) {
    const alternatives = await planAlternatives({ budgetBytes: budget, batch: batchSize, optimizer: config.optimizer, classes: 2, freeze });
    throw new ConfigError(
      'memory',
      `${config.model} at ${config.imageSize} px does not fit in ${config.memory} even at micro-batch 1 with recomputation (needs ${formatBytes(plan.predictedPeakBytes)}); ${suggestion(alternatives, config.model)}`,
    );
  }
  process.stderr.write(
    `memory plan: micro-batch ${plan.microBatch} × accumulate ${plan.accumulate}${plan.recompute ? ', recomputation on' : ''}, predicted peak ${formatBytes(plan.predictedPeakBytes)} of ${config.memory}\n`,
  );
  return { ...config, microBatch: plan.microBatch, accumulate: plan.accumulate, recompute: plan.recompute };
}

async function countTrainSamples(dataset: DatasetSource, config: TrainConfig): Promise<number> {
  let count = 0;
  const samples = flow(dataset, { epoch: 0, quarantine: new Quarantine() }).pipe(
    split({ subset: 'train', validation: config.validation, seed: config.seed }),
  );
  for await (const _ of samples) count++;
  return count;
}

function versions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  return {
    streamfit: (require('../package.json') as { version: string }).version,
    node: process.version,
    tfjs: tf.version.tfjs,
    sharp: sharp.versions.sharp ?? '',
  };
}
