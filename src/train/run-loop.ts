// The epoch/step loop: phases, epochs, micro-batches, validation, resume and the stop signal. Everything else a run does
// (checkpoints, early stopping, metrics, progress, the report) is a listener called from here.

import { setImmediate } from 'node:timers/promises';
import type * as tf from '@tensorflow/tfjs';
import { releasePooledBuffers } from '../backend/webgpu-memory.ts';
import { accumulateOf, type TrainConfig } from '../config/train-config.ts';
import type { Batch } from '../data/samples.ts';
import { NothingToTrain } from '../errors.ts';
import { seedOf } from '../math/random.ts';
import { applyFreeze } from '../models/create-model.ts';
import type { EpochRecord } from '../report/html-report.ts';
import type { Quarantine } from '../stream/quarantine.ts';
import { type Checkpoint, restoreTrainerState } from './checkpoint.ts';
import { evaluateModel } from './evaluate.ts';
import type { BackoffEvent, EpochEvent, RunContext, RunListener, RunSummary, StepEvent } from './listener.ts';
import { type Phase, scheduleFor } from './phases.ts';
import {
  type BestEpoch,
  type EpochProgress,
  type ListenerStates,
  type LoopPosition,
  noEpochProgress,
  type RunState,
  runStateVersion,
} from './run-state.ts';
import type { StepReport } from './train-stage.ts';
import { Trainer } from './trainer.ts';
import type { WorkerSlot } from './workers/worker-slots.ts';

export interface LoopSpec {
  config: TrainConfig;
  runDir: string;
  model: tf.LayersModel;
  /** The backbone's blocks, bottom to top, for the fine-tuning phase's freeze. */
  blocks: string[];
  classes: readonly string[];
  phases: Phase[];
  stepsPerEpoch: number;
  /** Samples on each side of the split, counted before the run (quarantine may take some away). */
  trainSamples: number;
  validationSamples: number;
  quarantine: Quarantine;
  gauges: ReadonlyMap<string, () => unknown>;
  listeners: RunListener[];
  memoryBudgetBytes?: number;
  /** Data-parallel workers; with two or more, each checks its own step against memoryBudgetBytes / workers. */
  workers?: WorkerSlot[];
  /** The checkpoint to continue from, with its run state. */
  resumeFrom?: Checkpoint;
  /** One epoch of training: the pipeline's flow ending in the trainer stage, skipping `skip` micro-batches. */
  trainSteps(epoch: number, trainer: Trainer, skip: number): AsyncIterable<StepReport>;
  validationBatches(epoch: number): AsyncIterable<Batch>;
  /** Aborting stops the run at the next micro-batch; its reason names the signal. */
  signal?: AbortSignal;
  message(text: string, fields?: Record<string, unknown>): void;
}

export interface LoopOutcome {
  interrupted: boolean;
  /** The abort reason when interrupted (e.g. 'SIGTERM'). */
  signal?: string;
}

export class RunLoop implements RunContext {
  readonly config: TrainConfig;
  readonly runDir: string;
  readonly model: tf.LayersModel;
  readonly classes: readonly string[];
  readonly phases: readonly Phase[];
  readonly totalEpochs: number;
  stepsPerEpoch: number;
  readonly trainSamples: number;
  readonly validationSamples: number;
  readonly quarantine: Quarantine;
  readonly gauges: ReadonlyMap<string, () => unknown>;
  readonly resumedFrom: string | undefined;
  trainer: Trainer | undefined;
  position: LoopPosition;
  steps: number;
  history: EpochRecord[];
  best: BestEpoch | null;
  stopReason: string | null;
  epochProgress: EpochProgress;
  private readonly spec: LoopSpec;
  /** Wall time of earlier sessions (a resumed run), and when this one started. */
  private readonly earlierSeconds: number;
  private readonly sessionStarted = performance.now();
  /** When the current epoch's training ended: precise BN and validation count from here. */
  private trainEndedAt = performance.now();
  /** Out-of-memory backoffs the trainer reported during the current micro-batch, handed to listeners after it. */
  private readonly backoffs: BackoffEvent[] = [];

  constructor(spec: LoopSpec) {
    this.spec = spec;
    this.config = spec.config;
    this.runDir = spec.runDir;
    this.model = spec.model;
    this.classes = spec.classes;
    this.phases = spec.phases;
    this.totalEpochs = spec.phases.at(-1)!.endEpoch;
    this.stepsPerEpoch = spec.stepsPerEpoch;
    this.trainSamples = spec.trainSamples;
    this.validationSamples = spec.validationSamples;
    this.quarantine = spec.quarantine;
    this.gauges = spec.gauges;
    this.resumedFrom = spec.resumeFrom?.folder;
    const state = spec.resumeFrom?.state;
    this.position = state?.position ?? { phase: 0, epoch: 0, batchInEpoch: 0, optimizerStep: 0, chunks: 1 };
    this.steps = state?.steps ?? 0;
    this.history = state?.history ?? [];
    this.best = state?.best ?? null;
    this.stopReason = state?.stopReason ?? null;
    this.epochProgress = state?.epochProgress ?? noEpochProgress;
    this.earlierSeconds = state?.seconds ?? 0;
    if (state) for (const listener of spec.listeners) if (listener.name) listener.loadState?.(state.listeners[listener.name]);
  }

  snapshot(): RunState {
    const listeners: ListenerStates = {};
    for (const listener of this.spec.listeners)
      if (listener.name && listener.state) Object.assign(listeners, { [listener.name]: listener.state() });
    return {
      version: runStateVersion,
      position: { ...this.position },
      steps: this.steps,
      history: this.history,
      best: this.best,
      stopReason: this.stopReason,
      listeners,
      epochProgress: { ...this.epochProgress },
      seconds: this.seconds,
    };
  }

  /** Wall-clock seconds of the whole run so far, earlier sessions included. */
  get seconds(): number {
    return this.earlierSeconds + (performance.now() - this.sessionStarted) / 1000;
  }

  /** Files quarantined so far in this run (training and validation, each file once). */
  get quarantined(): number {
    return this.quarantine.count;
  }

  message(text: string, fields?: Record<string, unknown>): void {
    this.spec.message(text, fields);
  }

  async run(): Promise<LoopOutcome> {
    await this.emit((listener) => listener.onRunStart?.(this));
    const resumed = this.spec.resumeFrom;
    // On resume the epoch decides the phase (a longer --epochs can reopen a finished one); optimizer state carries over only within its phase.
    const found = resumed ? this.phases.findIndex((phase) => this.position.epoch < phase.endEpoch) : 0;
    const startPhase = found < 0 ? this.phases.length : found;
    for (let index = startPhase; index < this.phases.length && this.stopReason === null; index++) {
      const resuming = resumed !== undefined && index === startPhase;
      const outcome = await this.runPhase(index, resuming ? resumed : undefined);
      if (outcome.interrupted) return outcome;
    }
    await this.emit((listener) => listener.onTrainEnd?.(this));
    return { interrupted: false };
  }

  private async runPhase(index: number, resumed: Checkpoint | undefined): Promise<LoopOutcome> {
    const { config } = this;
    const phase = this.phases[index];
    applyFreeze(this.model, this.spec.blocks, phase.freeze);
    const trainer = new Trainer({
      model: this.model,
      optimizer: {
        name: config.optimizer,
        lr: phase.lr,
        momentum: config.momentum,
        nesterov: config.nesterov,
        weightDecay: config.weightDecay,
      },
      accumulate: accumulateOf(config),
      schedule: scheduleFor(config, phase, this.stepsPerEpoch),
      l1: config.l1,
      l2: config.l2,
      labelSmoothing: config.labelSmoothing,
      memoryBudgetBytes: perWorkerBudget(this.spec.memoryBudgetBytes, this.spec.workers?.length ?? 1),
      workers: this.spec.workers,
      chunks: this.position.chunks,
      recompute: config.recompute,
      seed: seedOf(config.seed, 'phase', index),
      backward: config.backward,
      onBackoff: (event) => this.backoffs.push(event),
      onNotice: (text, fields) => this.message(text, fields),
    });
    this.trainer = trainer;
    const from = resumed ? { ...this.position } : undefined; // where the resumed run stopped
    try {
      if (from && index === from.phase) await restoreTrainerState(resumed!, trainer);
      await this.emit((listener) => listener.onPhaseStart?.(this, phase, index));
      const firstEpoch = from ? Math.max(from.epoch, phase.firstEpoch) : phase.firstEpoch;
      for (let epoch = firstEpoch; epoch < phase.endEpoch && this.stopReason === null; epoch++) {
        const skip = from && epoch === from.epoch ? from.batchInEpoch : 0;
        const trained = await this.trainEpoch(index, epoch, trainer, skip);
        if (trained.interrupted) return trained;
        await this.validateEpoch(index, epoch);
      }
      return { interrupted: false };
    } finally {
      this.trainer = undefined;
      trainer.dispose();
      releasePooledBuffers(); // webgpu: the next phase's shapes differ; the device gets this phase's pooled buffers back
    }
  }

  private async trainEpoch(phase: number, epoch: number, trainer: Trainer, skip: number) {
    this.position = { ...this.position, phase, epoch, batchInEpoch: skip };
    // A resumed epoch goes on with the totals its checkpoint holds; any other starts from zero.
    if (skip === 0) this.epochProgress = noEpochProgress;
    const reports = this.spec.trainSteps(epoch, trainer, skip)[Symbol.asyncIterator]();
    try {
      return await this.consume(reports, phase, epoch, trainer, skip);
    } finally {
      await reports.return?.(); // closes the pipeline (prefetch, decoders) when the loop leaves early
    }
  }

  private async consume(
    reports: AsyncIterator<StepReport>,
    phase: number,
    epoch: number,
    trainer: Trainer,
    skip: number,
  ): Promise<LoopOutcome> {
    const started = performance.now();
    const secondsBefore = this.epochProgress.seconds;
    let samplesSeen = 0;
    const elapsed = () => (performance.now() - started) / 1000;
    const applied = async (update: { loss: number; samples: number; correct: number }, learningRate: number) => {
      this.steps++;
      const progress = this.epochProgress;
      const totals = {
        updates: progress.updates + 1,
        lossSum: progress.lossSum + update.loss * update.samples,
        lossSamples: progress.lossSamples + update.samples,
        correct: progress.correct + update.correct,
        seconds: secondsBefore + elapsed(),
      };
      this.epochProgress = totals;
      // The first epoch's count of updates is an estimate until it ends (a last partial batch may be dropped).
      if (totals.updates > this.stepsPerEpoch) this.stepsPerEpoch = totals.updates;
      const step: StepEvent = {
        phase,
        epoch,
        step: this.steps,
        stepInEpoch: totals.updates,
        batchInEpoch: this.position.batchInEpoch,
        loss: update.loss,
        meanLoss: totals.lossSum / totals.lossSamples,
        accuracy: totals.correct / totals.lossSamples,
        samples: update.samples,
        learningRate,
        imagesPerSec: samplesSeen / Math.max(elapsed(), 1e-9),
      };
      await this.emit((listener) => listener.onStep?.(this, step));
    };
    for (;;) {
      let next: IteratorResult<StepReport>;
      try {
        next = await reports.next();
      } finally {
        for (const event of this.backoffs.splice(0)) await this.emit((listener) => listener.onBackoff?.(this, event));
      }
      if (next.done) break;
      const report = next.value;
      samplesSeen += report.samples;
      const seconds = (performance.now() - started) / 1000;
      this.position = { phase, epoch, batchInEpoch: report.batchInEpoch, optimizerStep: trainer.optimizerStep, chunks: trainer.chunks };
      this.epochProgress = { ...this.epochProgress, seconds: secondsBefore + seconds };
      if (report.update) await applied(report.update, report.learningRate);
      // A turn of the event loop: with a full prefetch queue and a backend that reads without I/O (wasm), the loop would
      // otherwise run on microtasks alone, and a SIGTERM (or the producers' I/O) would wait for the end of the epoch.
      await setImmediate();
      if (this.spec.signal?.aborted) {
        const signal = String(this.spec.signal.reason ?? 'stop');
        await this.emit((listener) => listener.onInterrupt?.(this, signal));
        return { interrupted: true, signal };
      }
    }
    // A last window of fewer than `accumulate` micro-batches is applied, not carried into the next epoch or dropped.
    const partial = await trainer.applyPartialWindow();
    if (partial) {
      this.position = { ...this.position, optimizerStep: trainer.optimizerStep };
      await applied(partial, partial.learningRate);
    }
    if (this.epochProgress.updates === 0 && skip === 0) {
      const quarantined = this.quarantine.count
        ? `; ${this.quarantine.count} files quarantined so far${this.quarantine.file ? `, reasons in ${this.quarantine.file}` : ''}`
        : '';
      throw new NothingToTrain(
        this.config.data,
        `epoch ${epoch + 1} made no optimizer step: the training stream yielded no batch${quarantined}`,
      );
    }
    this.stepsPerEpoch = Math.max(1, this.epochProgress.updates);
    this.trainEndedAt = performance.now();
    await this.emit((listener) => listener.onTrainEpochEnd?.(this, epoch));
    return { interrupted: false };
  }

  private async validateEpoch(phase: number, epoch: number): Promise<void> {
    const { config } = this;
    const trained = this.epochProgress;
    const batches = this.announced(epoch, this.spec.validationBatches(epoch));
    const evaluation = await evaluateModel(this.model, batches, this.classes.length, config.topK);
    if (evaluation.count === 0) {
      const quarantined = this.quarantine.file ? ` (${this.quarantine.count} files quarantined, reasons in ${this.quarantine.file})` : '';
      throw new NothingToTrain(config.data, `validation after epoch ${epoch + 1} had no sample to evaluate${quarantined}`);
    }
    const record: EpochRecord = {
      epoch,
      trainLoss: trained.lossSum / Math.max(1, trained.lossSamples),
      trainAccuracy: trained.correct / Math.max(1, trained.lossSamples),
      valLoss: evaluation.loss,
      valAccuracy: evaluation.accuracy,
      valTopK: evaluation.topK,
      learningRate: this.trainer!.learningRate,
      // Training time (over every session of this epoch) plus what ran after it: precise BN and validation.
      seconds: trained.seconds + (performance.now() - this.trainEndedAt) / 1000,
      imagesPerSec: trained.lossSamples / Math.max(trained.seconds, 1e-9),
      trainSamples: trained.lossSamples,
      validationSamples: evaluation.count,
    };
    this.history.push(record);
    // Where to go on from here; the phase stays the one whose optimizer state a checkpoint holds.
    this.position = { ...this.position, epoch: epoch + 1, batchInEpoch: 0, optimizerStep: this.trainer!.optimizerStep };
    this.epochProgress = noEpochProgress;
    const event: EpochEvent = { phase, epoch, record, evaluation };
    let judged = false;
    let best = false;
    for (const listener of this.spec.listeners) {
      const verdict = await listener.onValidationEnd?.(this, event);
      if (listener.judgesBest) {
        judged = true;
        best ||= verdict?.best === true;
      }
      if (verdict?.stop && this.stopReason === null) this.stopReason = verdict.stop;
    }
    if (!judged || best) this.best = { epoch, evaluation };
    await this.emit((listener) => listener.onEpochEnd?.(this, { ...event, best: !judged || best }));
  }

  /** The validation batches, each announced to the listeners once evaluated (the progress line shows validation). */
  private async *announced(epoch: number, batches: AsyncIterable<Batch>): AsyncGenerator<Batch> {
    let samples = 0;
    for await (const batch of batches) {
      yield batch;
      samples += batch.shape[0];
      await this.emit((listener) => listener.onValidationBatch?.(this, { epoch, samples, total: this.validationSamples }));
    }
  }

  /** Hands the run's summary to the listeners (the report is written here). */
  async end(summary: RunSummary): Promise<void> {
    await this.emit((listener) => listener.onRunEnd?.(this, summary));
  }

  private async emit(call: (listener: RunListener) => void | Promise<void>): Promise<void> {
    for (const listener of this.spec.listeners) await call(listener);
  }
}

/** Each of N workers holds its own weights and activations: it gets an Nth of the budget (the planner counts the same). */
function perWorkerBudget(budget: number | undefined, workers: number): number | undefined {
  return budget === undefined || workers <= 1 ? budget : Math.floor(budget / workers);
}
