// Listener: metrics.jsonl, one JSON line per 10 optimizer updates, per out-of-memory backoff and per epoch.

import { appendFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { BackoffEvent, EpochEvent, RunContext, RunListener, StepEvent } from '../listener.ts';

export class MetricsFile implements RunListener {
  constructor(
    readonly file: string,
    /** Optimizer updates between step lines. Default 10. */
    private readonly everySteps = 10,
  ) {}

  onStep(_run: RunContext, step: StepEvent): void {
    if (step.step % this.everySteps !== 0) return;
    this.append({
      type: 'step',
      epoch: step.epoch,
      step: step.step,
      loss: step.loss,
      learningRate: step.learningRate,
      imagesPerSec: step.imagesPerSec,
      numTensors: tf.memory().numTensors,
      rssBytes: process.memoryUsage.rss(),
    });
  }

  onBackoff(_run: RunContext, event: BackoffEvent): void {
    this.append({ type: 'oom-backoff', ...event });
  }

  onEpochEnd(_run: RunContext, { record, evaluation }: EpochEvent): void {
    this.append({
      type: 'epoch',
      ...record,
      perClassAccuracy: evaluation.perClassAccuracy,
      confusion: evaluation.confusion,
      validationSamples: evaluation.count,
    });
  }

  private append(record: Record<string, unknown>): void {
    appendFileSync(this.file, `${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  }
}
