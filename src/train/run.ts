// One training run: phases (head, then top blocks), epochs, validation, early stopping, checkpoints, resume, and the run folder's files.

import { appendFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendInfo } from '../backend/ladder.ts';
import { parseBytes } from '../config/bytes.ts';
import { accumulateOf, type TrainConfig } from '../config/train-config.ts';
import type { Batch } from '../data/samples.ts';
import { ConfigError, NothingToResume } from '../errors.ts';
import { applyFreeze, type BuiltModel, type Freeze } from '../models/create-model.ts';
import { loadWeightsByName, saveModel } from '../models/weights-io.ts';
import { type EpochRecord, renderReport } from '../report/html-report.ts';
import type { ProgressReporter } from '../report/progress.ts';
import { findLatestCheckpoint, type LoopPosition, loadCheckpointModel, restoreTrainerState, writeCheckpoint } from './checkpoint.ts';
import { type EarlyStoppingState, initialEarlyStopping, observeEpoch } from './early-stopping.ts';
import { evaluateModel } from './evaluate.ts';
import type { Evaluation } from './metrics.ts';
import type { Schedule } from './schedules.ts';
import { Trainer } from './trainer.ts';

export interface StepReportLike {
  samples: number;
  learningRate: number;
  batchInEpoch: number;
  update?: { loss: number; samples: number };
}

export interface RunSpec {
  config: TrainConfig;
  resume: boolean;
  backend: BackendInfo;
  classes: readonly string[];
  /** Training samples in one epoch (counted before the run), for schedules and ETA. */
  trainSamples: number;
  createModel: () => Promise<BuiltModel>;
  /** Names of the backbone's blocks, bottom to top, for the fine-tuning phase. */
  blocks: (model: tf.LayersModel) => string[];
  trainSteps: (epoch: number, trainer: Trainer, skip: number) => AsyncIterable<StepReportLike>;
  validationBatches: (epoch: number) => AsyncIterable<Batch>;
  gauges: Map<string, () => unknown>;
  reporter: ProgressReporter;
  stop: { requested: boolean; signal?: NodeJS.Signals };
  versions: Record<string, string>;
  /** Turns the trained model into the one saved (a head trained on cached features becomes the full classifier). */
  finalizeModel?: (trained: tf.LayersModel) => Promise<tf.LayersModel>;
  /** Extra fields for the summary (e.g. whether the feature cache was hit). */
  summaryExtra?: Record<string, unknown>;
}

export interface RunSummary {
  runDir: string;
  status: 'completed' | 'stopped-early' | 'interrupted';
  backend: string;
  epochs: number;
  stoppedEarly: boolean;
  steps: number;
  bestEpoch: number | null;
  valAccuracy: number | null;
  valLoss: number | null;
  numTensorsStart: number;
  numTensorsEnd: number;
  reportPath: string;
  fromScratch: boolean;
  signal?: string;
  [extra: string]: unknown;
}

interface Phase {
  name: string;
  freeze: Freeze;
  lr: number;
  firstEpoch: number;
  endEpoch: number;
}

/** Head-only training then the top blocks at a lower rate when weights are given; the whole network otherwise. */
export function planPhases(config: TrainConfig): Phase[] {
  if (!config.weights) {
    return [{ name: 'from scratch', freeze: 'none', lr: config.lr, firstEpoch: 0, endEpoch: config.epochs + config.fineTuneEpochs }];
  }
  const phases: Phase[] = [{ name: 'head', freeze: 'all', lr: config.lr, firstEpoch: 0, endEpoch: config.epochs }];
  if (config.fineTuneEpochs > 0) {
    phases.push({
      name: `fine-tune top ${config.fineTuneBlocks} blocks`,
      freeze: { trainTopBlocks: config.fineTuneBlocks },
      lr: config.lr * config.fineTuneLrFactor,
      firstEpoch: config.epochs,
      endEpoch: config.epochs + config.fineTuneEpochs,
    });
  }
  return phases;
}

function scheduleFor(config: TrainConfig, phase: Phase, stepsPerEpoch: number): Schedule {
  const epochs = phase.endEpoch - phase.firstEpoch;
  if (config.schedule === 'constant') return { name: 'constant' };
  if (config.schedule === 'step')
    return { name: 'step', everySteps: Math.max(1, config.stepEpochs * stepsPerEpoch), factor: config.stepFactor };
  return {
    name: 'cosine',
    warmupSteps: Math.round(Math.min(config.warmupEpochs, epochs) * stepsPerEpoch),
    totalSteps: Math.max(1, epochs * stepsPerEpoch),
  };
}

export async function runTraining(spec: RunSpec): Promise<RunSummary> {
  const { config, reporter } = spec;
  const runDir = resolve(config.out);
  const checkpointDir = join(runDir, 'checkpoints');
  const bestDir = join(checkpointDir, 'best');
  mkdirSync(runDir, { recursive: true });
  const metricsFile = join(runDir, 'metrics.jsonl');
  const logMetric = (record: Record<string, unknown>) =>
    appendFileSync(metricsFile, `${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);

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
        versions: spec.versions,
        resumedAt: spec.resume ? new Date().toISOString() : undefined,
      },
      null,
      2,
    ),
  );

  const phases = planPhases(config);
  const totalEpochs = phases.at(-1)!.endEpoch;
  const stepsPerEpoch = Math.max(1, Math.ceil(spec.trainSamples / config.batchSize));
  const fromScratch = !config.weights;
  if (fromScratch)
    reporter.message('no pretrained weights given: training the whole network from scratch (pass --weights <folder> to fine-tune)');

  let position: LoopPosition = checkpoint?.position ?? {
    phase: 0,
    epoch: 0,
    batchInEpoch: 0,
    optimizerStep: 0,
    chunks: 1,
    extra: {},
  };
  let early = (position.extra.earlyStopping as EarlyStoppingState | undefined) ?? initialEarlyStopping();
  const history = (position.extra.history as EpochRecord[] | undefined) ?? [];
  let bestEvaluation = position.extra.bestEvaluation as Evaluation | undefined;
  let steps = (position.extra.steps as number | undefined) ?? 0;
  let stoppedEarly = Boolean(position.extra.stoppedEarly);
  if (checkpoint) reporter.message(`resuming from ${checkpoint.folder} (epoch ${position.epoch + 1}, batch ${position.batchInEpoch})`);

  const model = checkpoint ? await loadCheckpointModel(checkpoint) : (await spec.createModel()).model;
  const blocks = spec.blocks(model);
  setBatchNormMomentum(model, config.batchNormMomentum);
  const numTensorsStart = tf.memory().numTensors;
  const memoryBudgetBytes = config.memory ? parseBytes(config.memory) : undefined;
  let interrupted = false;

  const savePosition = (trainer: Trainer, phase: number, epoch: number, batchInEpoch: number) => {
    position = {
      phase,
      epoch,
      batchInEpoch,
      optimizerStep: trainer.optimizerStep,
      chunks: trainer.chunks,
      extra: { earlyStopping: early, history, bestEvaluation, steps, stoppedEarly },
    };
    return writeCheckpoint(checkpointDir, trainer, position);
  };

  // On resume the epoch decides the phase (a longer --epochs can reopen a finished one); optimizer state carries over only within its phase.
  const startPhase = checkpoint ? phases.findIndex((phase) => position.epoch < phase.endEpoch) : 0;
  for (
    let phaseIndex = startPhase < 0 ? phases.length : startPhase;
    phaseIndex < phases.length && !stoppedEarly && !interrupted;
    phaseIndex++
  ) {
    const phase = phases[phaseIndex];
    applyFreeze(model, blocks, phase.freeze);
    reporter.message(
      `phase ${phaseIndex + 1}/${phases.length}: ${phase.name}, epochs ${phase.firstEpoch + 1}–${phase.endEpoch}, lr ${phase.lr}`,
    );
    const trainer = new Trainer({
      model,
      optimizer: {
        name: config.optimizer,
        lr: phase.lr,
        momentum: config.momentum,
        nesterov: config.nesterov,
        weightDecay: config.weightDecay,
      },
      accumulate: accumulateOf(config),
      schedule: scheduleFor(config, phase, stepsPerEpoch),
      l1: config.l1,
      l2: config.l2,
      labelSmoothing: config.labelSmoothing,
      memoryBudgetBytes,
      chunks: position.chunks,
      recompute: config.recompute,
      log: (event) => {
        logMetric(event);
        reporter.message(
          `out of memory: each micro-batch of ${event.microBatch} now runs in ${event.chunks} chunks of ${event.chunkSize} (${event.reason})`,
          event,
        );
      },
    });
    const resuming = Boolean(checkpoint) && phaseIndex === startPhase;
    if (resuming && phaseIndex === position.phase) await restoreTrainerState(checkpoint!, trainer);
    const firstEpoch = resuming ? Math.max(position.epoch, phase.firstEpoch) : phase.firstEpoch;

    try {
      for (let epoch = firstEpoch; epoch < phase.endEpoch; epoch++) {
        const skip = resuming && epoch === position.epoch ? position.batchInEpoch : 0;
        let lossSum = 0;
        let lossSamples = 0;
        let batchInEpoch = skip;
        const started = performance.now();
        let samplesSeen = 0;
        for await (const report of spec.trainSteps(epoch, trainer, skip)) {
          batchInEpoch = report.batchInEpoch;
          samplesSeen += report.samples;
          const { update } = report;
          if (update) {
            steps++;
            lossSum += update.loss * update.samples;
            lossSamples += update.samples;
            const seconds = (performance.now() - started) / 1000;
            const imagesPerSec = samplesSeen / Math.max(seconds, 1e-9);
            const queue = spec.gauges.get('queue')?.() as { depth: number; consumerStallMs: number } | undefined;
            const remainingBatches = ((totalEpochs - epoch) * stepsPerEpoch * config.batchSize) / config.microBatch - batchInEpoch;
            spec.reporter.step({
              epoch,
              epochs: totalEpochs,
              step: steps,
              loss: update.loss,
              imagesPerSec,
              learningRate: report.learningRate,
              queueDepth: queue?.depth,
              consumerStallMs: queue?.consumerStallMs,
              rssBytes: process.memoryUsage.rss(),
              numTensors: tf.memory().numTensors,
              etaSeconds: (remainingBatches * config.microBatch) / Math.max(imagesPerSec, 1e-9),
            });
            if (steps % 10 === 0)
              logMetric({
                type: 'step',
                epoch,
                step: steps,
                loss: update.loss,
                learningRate: report.learningRate,
                imagesPerSec,
                numTensors: tf.memory().numTensors,
                rssBytes: process.memoryUsage.rss(),
              });
          }
          if (spec.stop.requested) {
            await savePosition(trainer, phaseIndex, epoch, batchInEpoch);
            reporter.message(
              `${spec.stop.signal ?? 'stop'} received: checkpoint written at epoch ${epoch + 1}, batch ${batchInEpoch}; continue with --resume`,
            );
            interrupted = true;
            break;
          }
          if (update && steps % config.checkpointEverySteps === 0) await savePosition(trainer, phaseIndex, epoch, batchInEpoch);
        }
        if (interrupted) break;

        const evaluation = await evaluateModel(model, spec.validationBatches(epoch), spec.classes.length, config.topK);
        const record: EpochRecord = {
          epoch,
          trainLoss: lossSum / Math.max(1, lossSamples),
          valLoss: evaluation.loss,
          valAccuracy: evaluation.accuracy,
          valTopK: evaluation.topK,
          learningRate: trainer.learningRate,
        };
        history.push(record);
        logMetric({
          type: 'epoch',
          ...record,
          perClassAccuracy: evaluation.perClassAccuracy,
          confusion: evaluation.confusion,
          validationSamples: evaluation.count,
        });
        reporter.message(
          `epoch ${epoch + 1}/${totalEpochs}: train loss ${record.trainLoss.toFixed(4)}, val loss ${evaluation.loss.toFixed(4)}, val accuracy ${(evaluation.accuracy * 100).toFixed(1)}%, top-${evaluation.k} ${(evaluation.topK * 100).toFixed(1)}%`,
          { ...record },
        );
        if (config.earlyStopping) {
          const value = config.earlyStopping.metric === 'valLoss' ? evaluation.loss : evaluation.accuracy;
          const observed = observeEpoch(early, config.earlyStopping, epoch, value);
          early = observed.state;
          if (observed.improved) {
            bestEvaluation = evaluation;
            await saveBest(model, bestDir);
          }
          if (observed.stop) {
            stoppedEarly = true;
            reporter.message(
              `early stopping: no ${config.earlyStopping.metric} improvement for ${config.earlyStopping.patience} epochs; best was epoch ${early.bestEpoch! + 1}`,
            );
          }
        } else {
          bestEvaluation = evaluation;
        }
        // The phase saved is the one whose optimizer state is in the checkpoint; the epoch says where to go on.
        await savePosition(trainer, phaseIndex, epoch + 1, 0);
        if (stoppedEarly) break;
      }
    } finally {
      trainer.dispose();
    }
  }

  const reportPath = join(runDir, 'report.html');
  if (!interrupted) {
    if (config.earlyStopping && existsSync(join(bestDir, 'model.json'))) loadWeightsByName(model, bestDir);
    const saved = spec.finalizeModel ? await spec.finalizeModel(model) : model;
    saved.setUserDefinedMetadata({
      streamfit: { classes: spec.classes, imageSize: config.imageSize, normalize: config.normalize, model: config.model },
    });
    await saveModel(saved, join(runDir, 'model'));
    if (saved !== model) saved.dispose();
  }
  const best =
    config.earlyStopping && early.bestEpoch !== null ? history.find((record) => record.epoch === early.bestEpoch) : history.at(-1);
  writeFileSync(
    reportPath,
    renderReport({
      title: `streamfit run ${config.name}`,
      notes: [
        ...(fromScratch ? ['Trained from scratch: no pretrained weights were given.'] : []),
        ...(interrupted ? ['Interrupted: this report shows the epochs finished so far.'] : []),
        ...(stoppedEarly ? [`Stopped early; the saved model has the weights of epoch ${(early.bestEpoch ?? 0) + 1}.`] : []),
      ],
      history,
      classes: spec.classes,
      confusion: bestEvaluation?.confusion ?? spec.classes.map(() => spec.classes.map(() => 0)),
      perClassAccuracy: bestEvaluation?.perClassAccuracy ?? [],
      summary: {
        model: config.model,
        imageSize: config.imageSize,
        backend: `${spec.backend.name} ${spec.backend.version}`,
        data: config.data,
        epochs: history.length,
        bestEpoch: best ? best.epoch + 1 : '–',
      },
    }),
  );
  const numTensorsEnd = tf.memory().numTensors;
  model.dispose();
  return {
    runDir,
    status: interrupted ? 'interrupted' : stoppedEarly ? 'stopped-early' : 'completed',
    backend: spec.backend.name,
    epochs: history.length,
    stoppedEarly,
    steps,
    bestEpoch: best ? best.epoch + 1 : null,
    valAccuracy: best?.valAccuracy ?? null,
    valLoss: best?.valLoss ?? null,
    numTensorsStart,
    numTensorsEnd,
    reportPath,
    fromScratch,
    signal: interrupted ? spec.stop.signal : undefined,
    ...spec.summaryExtra,
  };
}

/** Moving-average momentum of every BatchNormalization layer (Keras' 0.99 needs thousands of steps to settle from scratch). */
function setBatchNormMomentum(model: tf.LayersModel, momentum: number): void {
  for (const layer of model.layers)
    if (layer.getClassName() === 'BatchNormalization') (layer as unknown as { momentum: number }).momentum = momentum;
}

async function saveBest(model: tf.LayersModel, folder: string): Promise<void> {
  const temporary = `${folder}.writing-${process.pid}`;
  rmSync(temporary, { recursive: true, force: true });
  await saveModel(model, temporary);
  rmSync(folder, { recursive: true, force: true });
  renameSync(temporary, folder);
}
