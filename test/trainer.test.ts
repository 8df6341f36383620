import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { createModel } from '../src/models/create-model.ts';
import { initialEarlyStopping, observeEpoch } from '../src/train/early-stopping.ts';
import { crossEntropy } from '../src/train/loss.ts';
import { addBatch, emptyTotals, summarize } from '../src/train/metrics.ts';
import { learningRateAt } from '../src/train/schedules.ts';
import { type BackoffEvent, Trainer } from '../src/train/trainer.ts';
import { sliceBatch, syntheticBatch } from './helpers/batches.ts';

await selectBackend('wasm');

async function frozenModel(imageSize = 32) {
  // Frozen BatchNorm (inference mode) and no dropout: micro-batches then add up exactly to a big batch.
  const built = await createModel('efficientnet-b0', { classes: 3, imageSize, freeze: { trainTopBlocks: 1 }, dropout: 0 }); // block7a has no stochastic-depth layer
  return built.model;
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.trainableWeights.map((weight) => weight.read().dataSync().slice() as Float32Array);
}

function maxDifference(a: Float32Array[], b: Float32Array[]): number {
  let difference = 0;
  a.forEach((values, i) => values.forEach((value, j) => (difference = Math.max(difference, Math.abs(value - b[i][j])))));
  return difference;
}

test('4 accumulated micro-batches of 2 give the weights of one batch of 8', async () => {
  const model = await frozenModel();
  const initial = model.getWeights().map((weight) => weight.clone());
  const big = syntheticBatch(8, 32, 3, 7);

  const whole = new Trainer({ model, optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9 }, accumulate: 1 });
  await whole.step(big);
  const afterWhole = weightsOf(model);
  whole.dispose();

  model.setWeights(initial);
  const accumulated = new Trainer({ model, optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9 }, accumulate: 4 });
  const results = [];
  for (const start of [0, 2, 4, 6]) results.push(await accumulated.step(sliceBatch(big, start, start + 2)));
  assert.deepEqual(
    results.map((result) => result.applied),
    [false, false, false, true],
  );
  const afterAccumulated = weightsOf(model);
  accumulated.dispose();

  assert.ok(maxDifference(afterWhole, afterAccumulated) <= 1e-5, `difference ${maxDifference(afterWhole, afterAccumulated)}`);
  assert.ok(
    maxDifference(
      afterWhole,
      initial.filter((_, i) => model.weights[i].trainable).map((t) => t.dataSync() as Float32Array),
    ) > 1e-4,
    'the update moved the weights',
  );
  tf.dispose(initial);
  model.dispose();
});

test('the tensor count is flat from step 1 to step 60', async () => {
  const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 32, freeze: { trainTopBlocks: 1 } });
  const trainer = new Trainer({
    model,
    optimizer: { name: 'adamw', lr: 1e-3, weightDecay: 0.01 },
    accumulate: 2,
    l1: 1e-5,
    l2: 1e-4,
    labelSmoothing: 0.1,
    schedule: { name: 'cosine', warmupSteps: 3, totalSteps: 30 },
  });
  const batch = syntheticBatch(2, 32, 3, 1, 'float16');
  await trainer.step(batch);
  await trainer.step(batch);
  const afterFirst = tf.memory().numTensors;
  for (let step = 0; step < 60; step++) await trainer.step(batch);
  assert.equal(tf.memory().numTensors, afterFirst);
  assert.equal(trainer.optimizerStep, 31);
  trainer.dispose();
  model.dispose();
});

test('out-of-memory splits the micro-batch into chunks, loses no sample, and keeps the batch size', async () => {
  const model = await frozenModel(64);
  const initial = model.getWeights().map((weight) => weight.clone());
  const batches = [syntheticBatch(8, 64, 3, 11), syntheticBatch(8, 64, 3, 12)];

  const reference = new Trainer({ model, optimizer: { name: 'adam', lr: 1e-2 }, accumulate: 2 });
  for (const batch of batches) await reference.step(batch);
  const expected = weightsOf(model);
  reference.dispose();

  // Measure the peak of chunks of 2 and 4, then set a budget between them: 8 → 4 → 2 is two backoffs.
  model.setWeights(initial);
  const probe = new Trainer({
    model,
    optimizer: { name: 'adam', lr: 1e-2 },
    accumulate: 2,
    memoryBudgetBytes: Number.MAX_SAFE_INTEGER,
    chunks: 4,
  });
  await probe.step(batches[0]);
  const peakOfTwo = probe.lastPeakBytes;
  probe.chunks = 2;
  await probe.step(batches[0]);
  const peakOfFour = probe.lastPeakBytes;
  probe.dispose();
  assert.ok(peakOfFour > peakOfTwo, `peaks ${peakOfTwo} < ${peakOfFour}`);

  model.setWeights(initial);
  const events: BackoffEvent[] = [];
  const limited = new Trainer({
    model,
    optimizer: { name: 'adam', lr: 1e-2 },
    accumulate: 2,
    memoryBudgetBytes: Math.floor((peakOfTwo + peakOfFour) / 2),
    onBackoff: (event) => events.push(event),
  });
  const results = [];
  for (const batch of batches) results.push(await limited.step(batch));
  assert.equal(limited.backoffs, 2);
  assert.deepEqual(
    events.map((event) => [event.microBatch, event.chunks, event.chunkSize]),
    [
      [8, 2, 4],
      [8, 4, 2],
    ],
  );
  assert.deepEqual(
    results.map((result) => result.samples),
    [8, 8],
  );
  assert.equal(limited.optimizerStep, 1, 'one update for two batches of 8, as without the budget');
  assert.ok(maxDifference(weightsOf(model), expected) <= 1e-5, `difference ${maxDifference(weightsOf(model), expected)}`);
  limited.dispose();
  tf.dispose(initial);
  model.dispose();
});

test('a training step never reads the device synchronously, and reads the loss once per optimizer update', async () => {
  const model = await frozenModel();
  const trainer = new Trainer({ model, optimizer: { name: 'adam', lr: 1e-3 }, accumulate: 3, labelSmoothing: 0.1 });
  const prototype = tf.Tensor.prototype as unknown as Record<'dataSync' | 'arraySync' | 'data', (...args: unknown[]) => unknown>;
  const original = { dataSync: prototype.dataSync, arraySync: prototype.arraySync, data: prototype.data };
  const reads = { sync: 0, async: 0 };
  prototype.dataSync = function (this: tf.Tensor, ...args: unknown[]) {
    reads.sync++;
    return original.dataSync.apply(this, args);
  };
  prototype.arraySync = function (this: tf.Tensor, ...args: unknown[]) {
    reads.sync++;
    return original.arraySync.apply(this, args);
  };
  prototype.data = function (this: tf.Tensor, ...args: unknown[]) {
    reads.async++;
    return original.data.apply(this, args);
  };
  const results = [];
  try {
    for (let i = 0; i < 6; i++) results.push(await trainer.step(syntheticBatch(2, 32, 3, i)));
  } finally {
    Object.assign(prototype, original);
  }
  assert.equal(reads.sync, 0, 'no dataSync or arraySync on the training path');
  assert.equal(reads.async, 2, 'one read of the loss per update (6 micro-batches, accumulate 3)');
  assert.deepEqual(
    results.map((result) => result.update?.samples),
    [undefined, undefined, 6, undefined, undefined, 6],
  );
  assert.ok(results.every((result) => result.update === undefined || Number.isFinite(result.update.loss)));
  trainer.dispose();
  model.dispose();
});

test('a non-finite loss stops training at the update read, before it reaches the weights', async () => {
  const { NonFiniteLoss } = await import('../src/train/trainer.ts');
  const { StreamfitError } = await import('../src/errors.ts');
  const model = await frozenModel();
  const before = weightsOf(model);
  const trainer = new Trainer({ model, optimizer: { name: 'sgd', lr: 0.1 }, accumulate: 2 });
  const poisoned = syntheticBatch(2, 32, 3, 1, 'float32');
  (poisoned.x as Float32Array).fill(Number.NaN, 0, 100);
  const first = await trainer.step(poisoned);
  assert.equal(first.applied, false, 'the NaN is not read before the update');
  await assert.rejects(
    trainer.step(syntheticBatch(2, 32, 3, 2)),
    (error: unknown) =>
      error instanceof NonFiniteLoss && error instanceof StreamfitError && /loss is NaN: training diverged/.test(error.message),
  );
  assert.equal(maxDifference(weightsOf(model), before), 0, 'weights untouched');
  assert.equal(trainer.optimizerStep, 0);
  trainer.dispose();
  model.dispose();
});

test('learning-rate schedules hit their known points', () => {
  assert.equal(learningRateAt({ name: 'constant' }, 0.1, 1000), 0.1);
  assert.equal(learningRateAt({ name: 'step', everySteps: 10, factor: 0.5 }, 0.1, 25), 0.025);
  const cosine = { name: 'cosine', warmupSteps: 10, totalSteps: 110 } as const;
  assert.equal(learningRateAt(cosine, 1, 0), 0.1);
  assert.equal(learningRateAt(cosine, 1, 9), 1);
  assert.equal(learningRateAt(cosine, 1, 10), 1);
  assert.ok(Math.abs(learningRateAt(cosine, 1, 60) - 0.5) < 1e-12);
  assert.equal(learningRateAt(cosine, 1, 110), 0);
  assert.ok(Math.abs(learningRateAt({ ...cosine, minimumFactor: 0.1 }, 1, 500) - 0.1) < 1e-12);
});

test('early stopping waits `patience` epochs without a min-delta improvement', () => {
  const options = { metric: 'valLoss' as const, patience: 2, minDelta: 0.01 };
  let state = initialEarlyStopping();
  const stops: boolean[] = [];
  for (const [epoch, loss] of [1.0, 0.8, 0.795, 0.79, 0.5].entries()) {
    const result = observeEpoch(state, options, epoch, loss);
    state = result.state;
    stops.push(result.stop);
  }
  assert.deepEqual(stops, [false, false, false, true, false]);
  assert.equal(observeEpoch(initialEarlyStopping(), { ...options, metric: 'valAccuracy' }, 0, 0.5).improved, true);
});

test('metrics: accuracy, top-k, per-class accuracy and the confusion matrix', () => {
  const totals = emptyTotals(3);
  addBatch(totals, [0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.2, 0.5, 0.3, 0.4, 0.35, 0.25], [0, 1, 1, 2], 2);
  const summary = summarize(totals, 2);
  assert.equal(summary.accuracy, 0.5);
  assert.equal(summary.topK, 0.75);
  assert.deepEqual(summary.confusion, [
    [1, 0, 0],
    [0, 1, 1],
    [1, 0, 0],
  ]);
  assert.deepEqual(summary.perClassAccuracy, [1, 0.5, 0]);
  const expectedLoss = -(Math.log(0.7) + Math.log(0.3) + Math.log(0.5) + Math.log(0.25)) / 4;
  assert.ok(Math.abs(summary.loss - expectedLoss) < 1e-12);
});

test('cross-entropy with label smoothing matches the formula', () => {
  const value = tf.tidy(() => crossEntropy(tf.tensor2d([[0.5, 0.25, 0.25]]), tf.tensor1d([0], 'int32'), 0.3).dataSync()[0]);
  const target = [0.8, 0.1, 0.1];
  const expected = -(target[0] * Math.log(0.5) + target[1] * Math.log(0.25) + target[2] * Math.log(0.25));
  assert.ok(Math.abs(value - expected) < 1e-6);
});
