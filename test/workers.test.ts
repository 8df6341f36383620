import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import type { Batch } from '../src/data/samples.ts';
import { createModel } from '../src/models/create-model.ts';
import { type BackoffEvent, Trainer, type TrainerOptions } from '../src/train/trainer.ts';
import type { WorkerSlot } from '../src/train/workers/worker-slots.ts';
import { sliceBatch, syntheticBatch } from './helpers/batches.ts';

await selectBackend('wasm');

const two: WorkerSlot[] = [{ backend: 'wasm' }, { backend: 'wasm' }];

async function frozenModel(imageSize = 32) {
  // Frozen BatchNorm (inference mode) and no dropout: the workers' sums then equal the single thread's up to rounding.
  const built = await createModel('efficientnet-b0', { classes: 3, imageSize, freeze: { trainTopBlocks: 1 }, dropout: 0, seed: 1 });
  return built.model;
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.weights.map((weight) => weight.read().dataSync().slice() as Float32Array);
}

/** The largest difference relative to the largest magnitude of each weight. */
function relativeDifference(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((values, i) => {
    const scale = values.reduce((largest, value) => Math.max(largest, Math.abs(value)), 1e-6);
    values.forEach((value, j) => (worst = Math.max(worst, Math.abs(value - b[i][j]) / scale)));
  });
  return worst;
}

/** Trains the micro-batches (one update each `accumulate`) from the same initial weights, then returns the weights. */
async function train(
  model: tf.LayersModel,
  initial: tf.Tensor[],
  microBatches: Batch[],
  options: Partial<TrainerOptions>,
  during?: (trainer: Trainer, index: number) => Promise<void> | void,
) {
  model.setWeights(initial);
  const trainer = new Trainer({ model, optimizer: { name: 'adam', lr: 1e-2 }, accumulate: microBatches.length, ...options });
  const results = [];
  try {
    for (const [index, batch] of microBatches.entries()) {
      results.push(await trainer.step(batch));
      await during?.(trainer, index);
    }
    return { weights: weightsOf(model), results, trainer: { optimizerStep: trainer.optimizerStep, backoffs: trainer.backoffs } };
  } finally {
    trainer.dispose();
  }
}

test('one update with 2 workers equals one with 1 worker, with accumulation and with recomputation', async () => {
  const model = await frozenModel();
  const initial = model.getWeights().map((weight) => weight.clone());
  const big = syntheticBatch(8, 32, 3, 5);
  const window = [0, 2, 4, 6].map((start) => sliceBatch(big, start, start + 2));
  for (const options of [{}, { recompute: true }] as Partial<TrainerOptions>[]) {
    const single = await train(model, initial, window, options);
    const parallel = await train(model, initial, window, { ...options, workers: two });
    assert.deepEqual(
      parallel.results.map((result) => [result.samples, result.applied]),
      single.results.map((result) => [result.samples, result.applied]),
    );
    assert.equal(parallel.trainer.optimizerStep, 1);
    const difference = relativeDifference(single.weights, parallel.weights);
    assert.ok(difference <= 1e-5, `${JSON.stringify(options)}: relative difference ${difference}`);
    const moved = relativeDifference(
      single.weights,
      initial.map((tensor) => tensor.dataSync() as Float32Array),
    );
    assert.ok(moved > 1e-4, 'the update moved the weights');
    assert.ok(Math.abs(parallel.results[3].update!.loss - single.results[3].update!.loss) < 1e-5 * single.results[3].update!.loss);
  }
  tf.dispose(initial);
  model.dispose();
});

test('a worker killed in the middle of a window is replaced; the window is computed again, no sample lost or counted twice', async () => {
  const model = await frozenModel();
  const initial = model.getWeights().map((weight) => weight.clone());
  const big = syntheticBatch(8, 32, 3, 9);
  const window = [0, 2, 4, 6].map((start) => sliceBatch(big, start, start + 2));
  const unfaulted = await train(model, initial, window, { workers: two });
  const events: BackoffEvent[] = [];
  const faulted = await train(
    model,
    initial,
    window,
    { workers: two, onBackoff: (event) => events.push(event) },
    async (trainer, index) => {
      if (index !== 1) return;
      // Worker 0 holds micro-batch 0 (computing it or done) and is handed micro-batch 2 next.
      await trainer.workerPool!.started();
      await trainer.workerPool!.terminateWorker(0);
    },
  );
  assert.equal(events.length, 1);
  assert.match(events[0].reason, /training worker 0 was lost/);
  assert.deepEqual([events[0].microBatch, events[0].chunks, events[0].chunkSize], [2, 2, 1]);
  assert.deepEqual(faulted.trainer, { optimizerStep: 1, backoffs: 1 });
  const [update, expected] = [faulted.results[3].update!, unfaulted.results[3].update!];
  assert.equal(update.samples, 8, 'every sample counted once');
  assert.ok(Math.abs(update.loss - expected.loss) <= 1e-5 * expected.loss, `loss ${update.loss} vs ${expected.loss}`);
  const difference = relativeDifference(unfaulted.weights, faulted.weights);
  assert.ok(difference <= 1e-5, `relative difference ${difference}`);
  tf.dispose(initial);
  model.dispose();
});

test('with 2 workers the main thread holds the same tensors from update 1 to update 6, and no worker outlives the trainer', async () => {
  const model = await frozenModel();
  const trainer = new Trainer({ model, optimizer: { name: 'adamw', lr: 1e-3, weightDecay: 0.01 }, accumulate: 2, l2: 1e-4, workers: two });
  const batch = syntheticBatch(2, 32, 3, 3, 'float16');
  await trainer.step(batch);
  await trainer.step(batch);
  const afterFirst = tf.memory().numTensors;
  for (let step = 0; step < 10; step++) await trainer.step(batch);
  assert.equal(tf.memory().numTensors, afterFirst);
  assert.equal(trainer.optimizerStep, 6);
  const threads = () => process.getActiveResourcesInfo().filter((name) => name === 'Worker' || name === 'MessagePort').length;
  assert.ok(threads() > 0);
  trainer.dispose();
  await trainer.workerPool!.close();
  assert.equal(threads(), 0, process.getActiveResourcesInfo().join(', '));
  model.dispose();
});
