// Listener: precise BatchNorm. Before each validation (and before the model is saved, if it trained since), the moving mean
// and variance of every trainable BatchNormalization layer are recomputed as population statistics over training batches
// without augmentation, instead of the exponential averages training left (timm's and Detectron2's "precise BN"; Wu and
// Johnson, "Rethinking Batch in BatchNorm", 2021). From scratch, a short run's averages have not settled, and validation
// with them reads near chance however well the model trains.

import { setImmediate } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../../data/samples.ts';
import { runSegment, segmentModel } from '../../memory/segments.ts';
import { type BatchStatisticsSink, collectsBatchStatistics } from '../../models/layers.ts';
import { batchTensors } from '../batch-tensor.ts';
import type { RunContext, RunListener } from '../listener.ts';

export interface PreciseBatchNormOptions {
  /** Micro-batches of training data to average over (fewer if the training set is smaller). */
  batches: number;
}

interface MovingStatistics {
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

/** Per layer: Σ n·mean and Σ n·(variance + mean²) on the device, and Σ n, over the batches seen. */
interface Sums {
  mean?: tf.Tensor;
  square?: tf.Tensor;
  count: number;
}

export class PreciseBatchNorm implements RunListener {
  private stepsAtLastRecompute = -1;

  constructor(
    private readonly options: PreciseBatchNormOptions,
    /** Training batches of an epoch under the evaluation preprocessing (no augmentation), shuffled by the run's seed. */
    private readonly batches: (epoch: number) => AsyncIterable<Batch>,
  ) {}

  async onTrainEpochEnd(run: RunContext, epoch: number): Promise<void> {
    await this.recompute(run, epoch);
  }

  /** Usually a no-op: the last epoch's statistics were recomputed before its validation and nothing has trained since. */
  async onTrainEnd(run: RunContext): Promise<void> {
    if (run.steps !== this.stepsAtLastRecompute) await this.recompute(run, run.position.epoch);
  }

  /** Recomputes the statistics of the model's trainable BatchNorm layers; returns how many layers it recomputed. */
  async recompute(run: RunContext, epoch: number): Promise<number> {
    this.stepsAtLastRecompute = run.steps;
    const layers = run.model.layers.filter((layer) => layer.getClassName() === 'BatchNormalization' && layer.trainable);
    if (layers.length === 0) return 0;
    const sums = new Map<tf.layers.Layer, Sums>(layers.map((layer) => [layer, { count: 0 }]));
    const saved = layers.map((layer) => {
      const fields = layer as unknown as MovingStatistics;
      return [fields, fields.movingMean.read().clone(), fields.movingVariance.read().clone()] as const;
    });
    // Inference-time activations have no dropout or stochastic depth: the statistics are gathered without them.
    const dropouts = run.model.layers.filter((layer) => layer.getClassName() === 'Dropout') as unknown as Array<{ rate: number }>;
    const rates = dropouts.map((layer) => layer.rate);
    for (const layer of dropouts) layer.rate = 0;
    for (const layer of layers) if (collectsBatchStatistics(layer)) layer.statisticsSink = sinkInto(sums.get(layer)!);
    try {
      const forward = segmentedForward(run.model);
      let count = 0;
      for await (const batch of this.batches(epoch)) {
        try {
          if (count >= this.options.batches) break;
          forward(batch);
          count++;
        } finally {
          batch.release?.();
        }
        await setImmediate(); // lets the producers (and a stop signal) run between batches
      }
      let recomputed = 0;
      tf.tidy(() => {
        saved.forEach(([fields, mean, variance], i) => {
          const total = sums.get(layers[i])!;
          if (total.count === 0 || !total.mean || !total.square) {
            // A layer that did not hand over statistics (none seen, or tfjs' own training path) keeps what it had.
            fields.movingMean.write(mean);
            fields.movingVariance.write(variance);
            return;
          }
          const populationMean = tf.div(total.mean, total.count);
          fields.movingMean.write(populationMean);
          fields.movingVariance.write(tf.relu(tf.sub(tf.div(total.square, total.count), tf.square(populationMean))));
          recomputed++;
        });
      });
      return recomputed;
    } finally {
      for (const layer of layers) if (collectsBatchStatistics(layer)) layer.statisticsSink = undefined;
      dropouts.forEach((layer, i) => (layer.rate = rates[i]));
      tf.dispose(saved.flatMap(([, mean, variance]) => [mean, variance]));
      for (const total of sums.values()) tf.dispose([total.mean, total.square].filter((tensor) => tensor !== undefined));
    }
  }
}

/** Adds a batch's statistics, weighted by its element count per channel, so batches of any size give the population's. */
function sinkInto(sums: Sums): BatchStatisticsSink {
  return (mean, variance, count) => {
    const [previousMean, previousSquare] = [sums.mean, sums.square];
    sums.mean = tf.keep(tf.tidy(() => (previousMean ? tf.add(previousMean, tf.mul(mean, count)) : tf.mul(mean, count))));
    sums.square = tf.keep(
      tf.tidy(() => {
        const square = tf.mul(tf.add(variance, tf.square(mean)), count);
        return previousSquare ? tf.add(previousSquare, square) : square;
      }),
    );
    tf.dispose([previousMean, previousSquare].filter((tensor) => tensor !== undefined));
    sums.count += count;
  };
}

/**
 * A training-mode forward pass that keeps one block's activations at a time (segment by segment, as recomputation runs),
 * so the pass fits wherever a training step fits; a model that is not made of blocks runs whole.
 */
function segmentedForward(model: tf.LayersModel): (batch: Batch) => void {
  const segments = segmentModel(model);
  if (segments.length < 3) return (batch) => tf.tidy(() => void model.apply(batchTensors(batch).x, { training: true }));
  return (batch) => {
    const { x, y } = batchTensors(batch);
    y.dispose();
    let boundary: tf.Tensor = x;
    for (const segment of segments) {
      const entering = boundary;
      boundary = tf.tidy(() => runSegment(segment, entering, true));
      entering.dispose();
    }
    boundary.dispose();
  };
}
