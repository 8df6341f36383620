// Runs a model over a stream of batches and gathers classification metrics; predictions are read asynchronously (a GPU backend
// cannot read synchronously, and a synchronous read would stall it).

import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/samples.ts';
import { batchTensors } from './batch-tensor.ts';
import { addBatch, type Evaluation, emptyTotals, summarize } from './metrics.ts';

export async function evaluateModel(model: tf.LayersModel, batches: AsyncIterable<Batch>, classes: number, k: number): Promise<Evaluation> {
  const totals = emptyTotals(classes);
  for await (const batch of batches) {
    const output = tf.tidy(() => model.apply(batchTensors(batch).x, { training: false }) as tf.Tensor);
    try {
      addBatch(totals, await output.data(), batch.y, k);
    } finally {
      output.dispose();
      batch.release?.();
    }
  }
  return summarize(totals, Math.min(k, classes));
}
