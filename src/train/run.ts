// One training run in its folder: refuses to overwrite a run, resumes one, builds the model and the standard listeners, runs
// the loop, saves the model with its metadata, and sums the run up.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendInfo } from '../backend/ladder.ts';
import { parseBytes } from '../config/bytes.ts';
import type { TrainConfig } from '../config/train-config.ts';
import type { Batch } from '../data/samples.ts';
import { ConfigError, NothingToResume } from '../errors.ts';
import type { BuiltModel } from '../models/create-model.ts';
import { saveModel } from '../models/weights-io.ts';
import type { ProgressReporter } from '../report/progress.ts';
import type { Quarantine } from '../stream/quarantine.ts';
import { findLatestCheckpoint, loadCheckpointModel } from './checkpoint.ts';
import type { RunListener, RunSummary } from './listener.ts';
import { Checkpointing } from './listeners/checkpointing.ts';
import { EarlyStopping } from './listeners/early-stopping.ts';
import { MetricsFile } from './listeners/metrics-file.ts';
import { PreciseBatchNorm } from './listeners/precise-batch-norm.ts';
import { Progress } from './listeners/progress.ts';
import { Report } from './listeners/report.ts';
import { planPhases } from './phases.ts';
import { RunLoop } from './run-loop.ts';
import { savedModelMetadata } from './saved-model.ts';
import type { StepReport } from './train-stage.ts';
import type { Trainer } from './trainer.ts';
import type { WorkerSlot } from './workers/worker-slots.ts';

export type { RunSummary } from './listener.ts';

export interface RunSpec {
  config: TrainConfig;
  resume: boolean;
  backend: BackendInfo;
  /** The data-parallel workers (src/train/workers/worker-slots.ts); one or none: the trainer runs in this thread. */
  workers?: WorkerSlot[];
  classes: readonly string[];
  /** Training and validation samples in one epoch (counted before the run), for schedules, the ETA and the report. */
  trainSamples: number;
  validationSamples: number;
  createModel: () => Promise<BuiltModel>;
  /** Names of the backbone's blocks, bottom to top, for the fine-tuning phase. */
  blocks: (model: tf.LayersModel) => string[];
  trainSteps: (epoch: number, trainer: Trainer, skip: number) => AsyncIterable<StepReport>;
  validationBatches: (epoch: number) => AsyncIterable<Batch>;
  /** Training batches without augmentation, for precise BN; without them precise BN is off. */
  statisticsBatches?: (epoch: number) => AsyncIterable<Batch>;
  quarantine: Quarantine;
  gauges: Map<string, () => unknown>;
  reporter: ProgressReporter;
  /** Aborting stops the run at the next micro-batch with a checkpoint; the reason names the signal. */
  signal?: AbortSignal;
  versions: Record<string, string>;
  /** Listeners beside the standard ones (called after early stopping, before checkpointing and the report). */
  listeners?: RunListener[];
  /** Turns the trained model into the one saved (a head trained on cached features becomes the full classifier). */
  finalizeModel?: (trained: tf.LayersModel) => Promise<tf.LayersModel>;
  /** Extra fields for the summary (e.g. whether the feature cache was hit). */
  summaryExtra?: Record<string, unknown>;
}

export async function runTraining(spec: RunSpec): Promise<RunSummary> {
  const { config, reporter } = spec;
  const runDir = resolve(config.out);
  const checkpointDir = join(runDir, 'checkpoints');
  mkdirSync(runDir, { recursive: true });

  const checkpoint = spec.resume ? findLatestCheckpoint(checkpointDir) : undefined;
  if (spec.resume && !checkpoint) throw new NothingToResume(runDir, `no checkpoint in ${checkpointDir}`);
  if (!spec.resume && existsSync(join(checkpointDir, 'latest.json'))) {
    throw new ConfigError('out', `${runDir} already holds a run; pass --resume to continue it or choose another --out`);
  }
  writeFileSync(
    join(runDir, 'config.json'),
    JSON.stringify(
      {
        ...config,
        classes: spec.classes,
        backend: spec.backend,
        // `workers` above is the field as given ('auto' or N); this is what the run uses.
        parallel: { workers: spec.workers?.length ?? 1, slots: spec.workers ?? [] },
        versions: spec.versions,
        resumedAt: spec.resume ? new Date().toISOString() : undefined,
      },
      null,
      2,
    ),
  );

  const model = checkpoint ? await loadCheckpointModel(checkpoint) : (await spec.createModel()).model;
  setBatchNormMomentum(model, config.batchNormMomentum);
  const numTensorsStart = tf.memory().numTensors;
  const reportPath = join(runDir, 'report.html');
  const listeners: RunListener[] = [
    new Progress(reporter, config.preciseBn ? Math.min(config.preciseBn.batches * config.microBatch, spec.trainSamples) : 0),
    // Before early stopping: the statistics are recomputed before validation judges the epoch and its weights are kept.
    ...(config.preciseBn && spec.statisticsBatches ? [new PreciseBatchNorm(config.preciseBn, spec.statisticsBatches)] : []),
    ...(config.earlyStopping ? [new EarlyStopping(config.earlyStopping, join(checkpointDir, 'best'))] : []),
    new MetricsFile(join(runDir, 'metrics.jsonl')),
    ...(spec.listeners ?? []),
    new Checkpointing(checkpointDir, config.checkpointEverySteps),
    new Report(reportPath, `${spec.backend.name} ${spec.backend.version}`),
  ];
  const loop = new RunLoop({
    config,
    runDir,
    model,
    blocks: spec.blocks(model),
    classes: spec.classes,
    phases: planPhases(config),
    stepsPerEpoch: Math.max(1, Math.ceil(spec.trainSamples / config.batchSize)),
    trainSamples: spec.trainSamples,
    validationSamples: spec.validationSamples,
    quarantine: spec.quarantine,
    gauges: spec.gauges,
    listeners,
    memoryBudgetBytes: config.memory ? parseBytes(config.memory) : undefined,
    workers: spec.workers,
    resumeFrom: checkpoint,
    trainSteps: spec.trainSteps,
    validationBatches: spec.validationBatches,
    signal: spec.signal,
    message: (text, fields) => reporter.message(text, fields),
  });

  try {
    const outcome = await loop.run();
    if (!outcome.interrupted) {
      const saved = spec.finalizeModel ? await spec.finalizeModel(model) : model;
      saved.setUserDefinedMetadata(savedModelMetadata(config, spec.classes));
      await saveModel(saved, join(runDir, 'model'));
      if (saved !== model) saved.dispose();
    }
    const best = loop.best ? loop.history.find((record) => record.epoch === loop.best!.epoch) : undefined;
    const summary: RunSummary = {
      runDir,
      status: outcome.interrupted ? 'interrupted' : loop.stopReason !== null ? 'stopped-early' : 'completed',
      backend: spec.backend.name,
      epochs: loop.history.length,
      stoppedEarly: loop.stopReason !== null,
      steps: loop.steps,
      bestEpoch: best ? best.epoch + 1 : null,
      valAccuracy: best?.valAccuracy ?? null,
      valLoss: best?.valLoss ?? null,
      numTensorsStart,
      numTensorsEnd: tf.memory().numTensors,
      reportPath,
      fromScratch: !config.weights,
      quarantined: loop.quarantined,
      seconds: loop.seconds,
      signal: outcome.signal,
      ...spec.summaryExtra,
    };
    await loop.end(summary);
    return summary;
  } finally {
    model.dispose();
  }
}

/** Moving-average momentum of every BatchNormalization layer (Keras' 0.99 needs thousands of steps to settle from scratch). */
function setBatchNormMomentum(model: tf.LayersModel, momentum: number): void {
  for (const layer of model.layers)
    if (layer.getClassName() === 'BatchNormalization') (layer as unknown as { momentum: number }).momentum = momentum;
}
