// Listener: what people (and log scrapers) see on stderr: phases, a progress line per update and during validation, with an
// ETA, and one line per epoch.

import * as tf from '@tensorflow/tfjs';
import type { ProgressReporter } from '../../report/progress.ts';
import type { BackoffEvent, EpochEvent, RunContext, RunListener, StepEvent, ValidationProgress } from '../listener.ts';
import type { Phase } from '../phases.ts';

/**
 * Forward passes alone (validation, precise BN) run several times as many images a second as training steps: B0 at 64 px
 * on wasm measured 6.9 times for precise BN's training-mode pass and 9.2 for inference.
 */
const forwardSpeedup = 6;
/** Updates the training rate is measured over: recent enough to leave the first epoch's warm-up behind quickly. */
const rateWindow = 8;

export class Progress implements RunListener {
  private announcedStop = false;
  /** Training images per second over the last updates; an epoch's first update (the pipeline filling up) is left out. */
  private trainRate?: number;
  private recent: Array<{ at: number; samples: number }> = [];
  /** Seconds an epoch spends after training (precise BN, validation), measured once one has. */
  private afterTraining?: number;
  private trainEnded = 0;
  private validationClock?: { since: number; samples: number };

  constructor(
    private readonly reporter: ProgressReporter,
    /** Training samples precise BN reads each epoch (0 when it is off). */
    private readonly statisticsSamples = 0,
  ) {}

  onRunStart(run: RunContext): void {
    if (!run.config.weights)
      run.message('no pretrained weights given: training the whole network from scratch (pass --weights <folder> to fine-tune)');
    if (run.resumedFrom)
      run.message(`resuming from ${run.resumedFrom} (epoch ${run.position.epoch + 1}, batch ${run.position.batchInEpoch})`);
  }

  onPhaseStart(run: RunContext, phase: Phase, index: number): void {
    run.message(`phase ${index + 1}/${run.phases.length}: ${phase.name}, epochs ${phase.firstEpoch + 1}–${phase.endEpoch}, lr ${phase.lr}`);
  }

  onStep(run: RunContext, step: StepEvent): void {
    const now = performance.now();
    if (step.stepInEpoch === 1) this.recent = [];
    this.recent = [...this.recent.slice(-rateWindow), { at: now, samples: step.samples }];
    if (this.recent.length > 1) {
      const samples = this.recent.slice(1).reduce((sum, update) => sum + update.samples, 0);
      this.trainRate = samples / Math.max((now - this.recent[0].at) / 1000, 1e-3);
    }
    const queue = run.gauges.get('queue')?.() as { depth: number; consumerStallMs: number } | undefined;
    this.reporter.step({
      epoch: step.epoch,
      epochs: run.totalEpochs,
      stepInEpoch: step.stepInEpoch,
      stepsPerEpoch: run.stepsPerEpoch,
      step: step.step,
      loss: step.loss,
      meanLoss: step.meanLoss,
      accuracy: step.accuracy,
      imagesPerSec: step.imagesPerSec,
      learningRate: step.learningRate,
      queueDepth: queue?.depth,
      consumerStallMs: queue?.consumerStallMs,
      rssBytes: process.memoryUsage.rss(),
      numTensors: tf.memory().numTensors,
      etaSeconds: this.etaAtStep(run, step),
      quarantined: run.quarantined,
    });
  }

  onBackoff(run: RunContext, event: BackoffEvent): void {
    run.message(
      `out of memory: each micro-batch of ${event.microBatch} now runs in ${event.chunks} chunks of ${event.chunkSize} (${event.reason})`,
      { ...event },
    );
  }

  onTrainEpochEnd(): void {
    this.trainEnded = performance.now();
    this.validationClock = undefined;
  }

  onValidationBatch(run: RunContext, progress: ValidationProgress): void {
    const now = performance.now();
    // The first batch starts the clock (it includes precise BN and the pipeline filling up).
    if (!this.validationClock) this.validationClock = { since: now, samples: progress.samples };
    const { since, samples } = this.validationClock;
    const measured = progress.samples > samples ? (progress.samples - samples) / Math.max((now - since) / 1000, 1e-3) : undefined;
    const validationRate = measured ?? (this.trainRate ?? 0) * forwardSpeedup;
    const remaining = Math.max(0, progress.total - progress.samples);
    const later = run.totalEpochs - progress.epoch - 1;
    this.reporter.validation({
      epoch: progress.epoch,
      epochs: run.totalEpochs,
      samples: progress.samples,
      total: progress.total,
      etaSeconds: validationRate > 0 && this.trainRate ? remaining / validationRate + later * this.epochSeconds(run) : undefined,
      quarantined: run.quarantined,
    });
  }

  onEpochEnd(run: RunContext, { record, evaluation, best }: EpochEvent): void {
    this.afterTraining = (performance.now() - this.trainEnded) / 1000;
    this.reporter.epoch({
      epoch: record.epoch,
      epochs: run.totalEpochs,
      seconds: record.seconds ?? 0,
      trainLoss: record.trainLoss,
      trainAccuracy: record.trainAccuracy ?? 0,
      valLoss: evaluation.loss,
      valAccuracy: evaluation.accuracy,
      k: evaluation.k,
      valTopK: evaluation.topK,
      learningRate: record.learningRate,
      imagesPerSec: record.imagesPerSec ?? 0,
      quarantined: run.quarantined,
      best: best === true,
    });
    if (run.stopReason !== null && !this.announcedStop) {
      this.announcedStop = true;
      run.message(run.stopReason);
    }
  }

  /** The rest of this epoch's training, then every later epoch's training, and each epoch's precise BN and validation. */
  private etaAtStep(run: RunContext, step: StepEvent): number | undefined {
    const rate = this.trainRate ?? (step.stepInEpoch > 1 || step.epoch > 0 ? step.imagesPerSec : undefined);
    if (!rate) return undefined;
    const remainingSteps = Math.max(0, run.stepsPerEpoch - step.stepInEpoch) + (run.totalEpochs - step.epoch - 1) * run.stepsPerEpoch;
    return (remainingSteps * run.config.batchSize) / rate + (run.totalEpochs - step.epoch) * this.afterTrainingSeconds(rate, run);
  }

  private epochSeconds(run: RunContext): number {
    const rate = this.trainRate ?? 1;
    return (run.stepsPerEpoch * run.config.batchSize) / rate + this.afterTrainingSeconds(rate, run);
  }

  /** Measured once an epoch has been validated; until then, forward passes over validation and precise BN's samples. */
  private afterTrainingSeconds(rate: number, run: RunContext): number {
    return this.afterTraining ?? (run.validationSamples + this.statisticsSamples) / (rate * forwardSpeedup);
  }
}
