// Listener: what people (and log scrapers) see on stderr: phases, a progress line per update with the ETA, epoch results.

import * as tf from '@tensorflow/tfjs';
import { accumulateOf } from '../../config/train-config.ts';
import type { ProgressReporter } from '../../report/progress.ts';
import type { BackoffEvent, EpochEvent, RunContext, RunListener, StepEvent } from '../listener.ts';
import type { Phase } from '../phases.ts';

export class Progress implements RunListener {
  private announcedStop = false;

  constructor(private readonly reporter: ProgressReporter) {}

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
    const { config } = run;
    const queue = run.gauges.get('queue')?.() as { depth: number; consumerStallMs: number } | undefined;
    const remainingMicroBatches = (run.totalEpochs - step.epoch) * run.stepsPerEpoch * accumulateOf(config) - step.batchInEpoch;
    this.reporter.step({
      epoch: step.epoch,
      epochs: run.totalEpochs,
      step: step.step,
      loss: step.loss,
      imagesPerSec: step.imagesPerSec,
      learningRate: step.learningRate,
      queueDepth: queue?.depth,
      consumerStallMs: queue?.consumerStallMs,
      rssBytes: process.memoryUsage.rss(),
      numTensors: tf.memory().numTensors,
      etaSeconds: (remainingMicroBatches * config.microBatch) / Math.max(step.imagesPerSec, 1e-9),
    });
  }

  onBackoff(run: RunContext, event: BackoffEvent): void {
    run.message(
      `out of memory: each micro-batch of ${event.microBatch} now runs in ${event.chunks} chunks of ${event.chunkSize} (${event.reason})`,
      { ...event },
    );
  }

  onEpochEnd(run: RunContext, { record, evaluation }: EpochEvent): void {
    run.message(
      `epoch ${record.epoch + 1}/${run.totalEpochs}: train loss ${record.trainLoss.toFixed(4)}, val loss ${evaluation.loss.toFixed(4)}, val accuracy ${(evaluation.accuracy * 100).toFixed(1)}%, top-${evaluation.k} ${(evaluation.topK * 100).toFixed(1)}%`,
      { ...record },
    );
    if (run.stopReason !== null && !this.announcedStop) {
      this.announcedStop = true;
      run.message(run.stopReason);
    }
  }
}
