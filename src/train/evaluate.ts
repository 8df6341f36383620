// Runs a model over a stream of batches and gathers classification metrics.

import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/samples.ts';
import { batchTensors } from './batch-tensor.ts';
import { addBatch, type Evaluation, emptyTotals, summarize } from './metrics.ts';

export async function evaluateModel(model: tf.LayersModel, batches: AsyncIterable<Batch>, classes: number, k: number): Promise<Evaluation> {
  const totals = emptyTotals(classes);
  for await (const batch of batches) {
    const probabilities = tf.tidy(() => {
      const { x } = batchTensors(batch);
      return (model.apply(x, { training: false }) as tf.Tensor).dataSync();
    });
    addBatch(totals, probabilities, batch.y, k);
    batch.release?.();
  }
  return summarize(totals, Math.min(k, classes));
}
