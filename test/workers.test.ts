import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { benchIndependentProcesses } from '../bench/train.ts';
import { selectBackend } from '../src/backend/ladder.ts';
import { configFromFlags } from '../src/config/config-flags.ts';
import { defaultTrainConfig, validateTrainConfig } from '../src/config/train-config.ts';
import type { Batch } from '../src/data/samples.ts';
import { ConfigError } from '../src/errors.ts';
import { createModel } from '../src/models/create-model.ts';
import { findLatestCheckpoint, loadCheckpointModel, writeCheckpoint } from '../src/train/checkpoint.ts';
import { type RunState, runStateVersion } from '../src/train/run-state.ts';
import { type BackoffEvent, Trainer, type TrainerOptions } from '../src/train/trainer.ts';
import { WorkerFailed } from '../src/train/workers/worker-pool.ts';
import { idleCoresHint, physicalCores, resolveWorkerSlots, type WorkerSlot } from '../src/train/workers/worker-slots.ts';
import { sliceBatch, syntheticBatch } from './helpers/batches.ts';
import { lastJson, streamfit } from './helpers/cli.ts';
import { tempFolder } from './helpers/images.ts';
import { tinyDataset } from './helpers/tiny-dataset.ts';

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

test('a worker whose wasm heap runs out is replaced at once; the window is computed again, no sample lost or counted twice', async () => {
  const model = await frozenModel();
  const initial = model.getWeights().map((weight) => weight.clone());
  const big = syntheticBatch(4, 32, 3, 7);
  const window = [0, 2].map((start) => sliceBatch(big, start, start + 2));
  const unfaulted = await train(model, initial, window, { workers: two });
  const events: BackoffEvent[] = [];
  model.setWeights(initial);
  const trainer = new Trainer({
    model,
    optimizer: { name: 'adam', lr: 1e-2 },
    accumulate: 2,
    workers: two,
    onBackoff: (event) => events.push(event),
  });
  try {
    // The last worker to answer (1, which gets the window's second micro-batch) reports running out of memory when its
    // sums are collected; its thread ends only a turn later, after the retry has begun.
    await trainer.workerPool!.started();
    await trainer.workerPool!.failNext(1, 'collect', 'Cannot enlarge memory arrays (wasm heap out of memory)');
    await trainer.step(window[0]);
    const { update } = await trainer.step(window[1]);
    assert.equal(events.length, 1);
    assert.match(events[0].reason, /training worker 1 was lost \(Cannot enlarge memory/);
    assert.equal(trainer.backoffs, 1);
    assert.equal(update!.samples, 4, 'every sample counted once');
    const difference = relativeDifference(unfaulted.weights, weightsOf(model));
    assert.ok(difference <= 1e-5, `relative difference ${difference}`);
  } finally {
    trainer.dispose();
    await trainer.workerPool!.close();
    tf.dispose(initial);
    model.dispose();
  }
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

test('BatchNorm in training mode: each worker normalizes with its own batch statistics; the moving averages are averaged', async () => {
  const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 32, freeze: 'none', dropout: 0, seed: 2 });
  const initial = model.getWeights().map((weight) => weight.clone());
  const [first, second] = [syntheticBatch(2, 32, 3, 21), syntheticBatch(2, 32, 3, 22)];
  const moving = model.weights.flatMap((weight, i) => (/moving_(mean|variance)$/.test(weight.originalName) ? [i] : []));
  const pick = (weights: Float32Array[]) => moving.map((i) => weights[i]);
  // Each micro-batch's forward pass alone, from the initial weights, at its place in the window (its dropout masks).
  const movedBy = async (batch: Batch, indexInWindow: number) => {
    model.setWeights(initial);
    const trainer = new Trainer({ model, optimizer: { name: 'adam', lr: 1e-2 }, accumulate: 2 });
    trainer.batchesInWindow = indexInWindow;
    await trainer.step(batch);
    trainer.dispose();
    return pick(weightsOf(model));
  };
  const [afterFirst, afterSecond] = [await movedBy(first, 0), await movedBy(second, 1)];
  const start = pick(initial.map((tensor) => tensor.dataSync() as Float32Array));
  const expected = start.map((values, i) => values.map((value, j) => value + (afterFirst[i][j] - value + (afterSecond[i][j] - value)) / 2));

  const single = await train(model, initial, [first, second], {});
  const parallel = await train(model, initial, [first, second], { workers: two });
  const trainable = new Set(model.trainableWeights.map((weight) => weight.originalName));
  const trainableOf = (weights: Float32Array[]) => weights.filter((_, i) => trainable.has(model.weights[i].originalName));
  const gradients = relativeDifference(trainableOf(single.weights), trainableOf(parallel.weights));
  assert.ok(gradients <= 1e-5, `trainable weights: relative difference ${gradients}`);
  const statistics = relativeDifference(expected, pick(parallel.weights));
  assert.ok(statistics <= 1e-5, `moving statistics: relative difference ${statistics}`);
  assert.ok(relativeDifference(pick(single.weights), pick(parallel.weights)) > 1e-4, 'one thread updates them one after the other');
  tf.dispose(initial);
  model.dispose();
});

test('a run that trains on one of several cores says which micro-batch would use them, and only then', () => {
  const whole = { batchSize: 16, microBatch: 16 };
  assert.match(idleCoresHint('auto', 'wasm', whole, 2) ?? '', /1 of 2 cores trains: --micro-batch 8 would run 2 workers/);
  assert.match(idleCoresHint('auto', 'cpu', whole, 16) ?? '', /--micro-batch 4 would run 4 workers/, 'at least 4 samples a worker');
  assert.match(idleCoresHint('auto', 'wasm', { batchSize: 24, microBatch: 24 }, 5) ?? '', /--micro-batch 6 would run 4 workers/);
  assert.equal(idleCoresHint('auto', 'wasm', whole, 1), undefined, 'one core');
  assert.equal(idleCoresHint('auto', 'wasm', { batchSize: 7, microBatch: 7 }, 2), undefined, 'no split of 4 or more');
  assert.equal(idleCoresHint('auto', 'wasm', { batchSize: 16, microBatch: 8 }, 2), undefined, 'the micro-batch was chosen');
  assert.equal(idleCoresHint(1, 'wasm', whole, 2), undefined, 'one worker was asked for');
  assert.equal(idleCoresHint('auto', 'webgpu', whole, 2), undefined, 'a GPU backend');
});

test('workers: auto is the physical cores on wasm and cpu, at most the micro-batches of an update, 1 elsewhere; bad counts name the field', () => {
  const cores = physicalCores();
  assert.ok(cores >= 1 && cores <= availableParallelism());
  assert.equal(resolveWorkerSlots('auto', 'wasm', 64).length, cores);
  assert.equal(resolveWorkerSlots('auto', 'wasm', 1).length, 1);
  assert.equal(resolveWorkerSlots('auto', 'webgpu', 64).length, 1);
  assert.deepEqual(resolveWorkerSlots(2, 'cpu', 4), [{ backend: 'cpu' }, { backend: 'cpu' }]);
  assert.throws(
    () => resolveWorkerSlots(2, 'webgpu', 4),
    (error) => error instanceof ConfigError && error.field === 'workers' && /wasm and cpu/.test(error.message),
  );
  assert.throws(() => resolveWorkerSlots(3, 'wasm', 2), /config field 'workers': got 3, but an update has 2 micro-batches/);
  assert.equal(validateTrainConfig({ data: 'd', name: 'n', out: 'o', ...defaultTrainConfig }).workers, 'auto');
  assert.throws(
    () => validateTrainConfig({ data: 'd', name: 'n', out: 'o', ...defaultTrainConfig, workers: 0 }),
    /config field 'workers': got 0/,
  );
  assert.deepEqual(configFromFlags({ workers: 'auto' }), { workers: 'auto' });
  assert.deepEqual(configFromFlags({ workers: '4' }), { workers: 4 });
  for (const bad of ['0', 'two', '1.5'])
    assert.throws(() => configFromFlags({ workers: bad }), /flag --workers: expected a whole number from 1 up or 'auto'/);
});

test('a worker whose step fails for another reason than memory stops the trainer with its message', async () => {
  const model = await frozenModel();
  const trainer = new Trainer({ model, optimizer: { name: 'sgd', lr: 0.1 }, accumulate: 2, workers: two });
  try {
    await trainer.step(syntheticBatch(2, 32, 3, 1));
    await assert.rejects(
      trainer.step({ ...syntheticBatch(2, 32, 3, 2), shape: [2, 16, 16, 12] }), // the model takes 3 channels
      (error: Error) => error instanceof WorkerFailed && /training worker 1: .*shape/i.test(error.message),
    );
    assert.equal(trainer.backoffs, 0, 'not retried as if out of memory');
  } finally {
    trainer.dispose();
    await trainer.workerPool!.close();
    model.dispose();
  }
});

test('streamfit train --workers 2: the run says so in its log line and config.json, and leaks no tensor', async () => {
  const data = tinyDataset(6);
  const out = join(tempFolder(), 'run');
  const flags = ['--model', 'efficientnet-b0', '--image-size', '32', '--batch-size', '4', '--micro-batch', '2', '--backend', 'wasm'];
  const { code, stdout, stderr } = await streamfit(['train', data, '--out', out, '--epochs', '1', '--workers', '2', ...flags, '--json']);
  assert.equal(code, 0, stderr);
  const summary = lastJson(stdout);
  assert.equal(summary.numTensorsEnd, summary.numTensorsStart);
  assert.match(stderr, /backend wasm [^\n]*, 2 data-parallel workers of micro-batch 2/);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(config.workers, 2);
  assert.deepEqual(config.parallel, { workers: 2, slots: two });
  const refused = await streamfit(['train', data, '--out', join(out, 'x'), '--workers', '3', ...flags]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^streamfit: config field 'workers': got 3, but an update has 2 micro-batches/);
});

test("a checkpoint inside a window gathers the workers' sums; restored into new workers, the update is the same", async () => {
  const model = await frozenModel();
  const initial = model.getWeights().map((weight) => weight.clone());
  const big = syntheticBatch(8, 32, 3, 13);
  const window = [0, 2, 4, 6].map((start) => sliceBatch(big, start, start + 2));
  const whole = await train(model, initial, window, { workers: two });
  model.setWeights(initial);
  const options = { model, optimizer: { name: 'adam' as const, lr: 1e-2 }, accumulate: 4, workers: two };
  const first = new Trainer(options);
  await first.step(window[0]);
  await first.step(window[1]);
  const state = await first.accumulatorState();
  assert.deepEqual([state.batchesInWindow, state.samplesInWindow], [2, 4]);
  assert.ok(
    state.values.some((values) => values.some((value) => value !== 0)),
    'the sums so far are in the checkpoint',
  );
  first.dispose();
  const second = new Trainer(options);
  second.restoreAccumulators(state);
  await second.step(window[2]);
  const last = await second.step(window[3]);
  assert.equal(last.update?.samples, 8);
  second.dispose();
  const difference = relativeDifference(whole.weights, weightsOf(model));
  assert.ok(difference <= 1e-5, `relative difference ${difference}`);
  tf.dispose(initial);
  model.dispose();
});

test("a checkpoint inside a window saves the model with the workers' BatchNorm statistics of the window so far", async () => {
  const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 32, freeze: 'none', dropout: 0, seed: 5 });
  const big = syntheticBatch(8, 32, 3, 17);
  const trainer = new Trainer({ model, optimizer: { name: 'sgd', lr: 0.1 }, accumulate: 4, workers: two });
  const root = join(tempFolder('streamfit-workers-checkpoint-'), 'checkpoints');
  try {
    await trainer.step(sliceBatch(big, 0, 2));
    await trainer.step(sliceBatch(big, 2, 4));
    const movingMean = () => model.weights.find((weight) => /stem_bn\/moving_mean/.test(weight.name))!;
    const before = movingMean().read().dataSync().slice();
    const state: RunState = {
      version: runStateVersion,
      position: { phase: 0, epoch: 0, batchInEpoch: 2, optimizerStep: 0, chunks: 1 },
      steps: 0,
      history: [],
      best: null,
      stopReason: null,
      listeners: {},
      epochProgress: { updates: 0, lossSum: 0, lossSamples: 0, correct: 0, seconds: 0 },
      seconds: 0,
    };
    await writeCheckpoint(root, trainer, state);
    const after = movingMean().read().dataSync().slice();
    assert.ok(
      after.some((value, i) => value !== before[i]),
      "gathering the window moved the main model's statistics",
    );
    const saved = await loadCheckpointModel(findLatestCheckpoint(root)!);
    const savedMean = saved.weights
      .find((weight) => /stem_bn\/moving_mean/.test(weight.name))!
      .read()
      .dataSync();
    assert.deepEqual(Array.from(savedMean), Array.from(after), 'the saved model has them');
    saved.dispose();
  } finally {
    trainer.dispose();
    await trainer.workerPool!.close();
    model.dispose();
    rmSync(join(root, '..'), { recursive: true, force: true });
  }
});

test('three updates in a row with 2 workers follow the single thread: the workers take the new weights every time', async () => {
  // BatchNorm in training mode normalizes each micro-batch by its own statistics in both, so the losses match too.
  const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 32, freeze: 'none', dropout: 0, seed: 3 });
  const initial = model.getWeights().map((weight) => weight.clone());
  const microBatches = [31, 32, 33].flatMap((seed) => {
    const batch = syntheticBatch(4, 32, 3, seed);
    return [sliceBatch(batch, 0, 2), sliceBatch(batch, 2, 4)];
  });
  const run = (workers?: WorkerSlot[]) => train(model, initial, microBatches, { accumulate: 2, workers });
  const [single, parallel] = [await run(), await run(two)];
  const losses = (results: typeof single.results) => results.flatMap((result) => (result.update ? [result.update.loss] : []));
  assert.equal(losses(parallel.results).length, 3);
  losses(single.results).forEach((loss, i) =>
    assert.ok(Math.abs(losses(parallel.results)[i] - loss) <= 1e-5 * loss, `update ${i + 1}: ${losses(parallel.results)[i]} vs ${loss}`),
  );
  const trainable = new Set(model.trainableWeights.map((weight) => weight.originalName));
  const trainableOf = (weights: Float32Array[]) => weights.filter((_, i) => trainable.has(model.weights[i].originalName));
  const difference = relativeDifference(trainableOf(single.weights), trainableOf(parallel.weights));
  assert.ok(difference <= 1e-5, `relative difference ${difference}`);
  tf.dispose(initial);
  model.dispose();
});

test('bench train --ceiling times as many processes as workers, each on one micro-batch, and bounds the speedup by the slowest', async () => {
  const args = ['bench', 'train', '--backend', 'wasm', '--image-size', '32', '--batch', '4', '--steps', '1', '--warmup-seconds', '0'];
  const outcome = await streamfit([...args, '--workers', '2', '--workers-baseline', '1', '--ceiling', '--json']);
  assert.equal(outcome.code, 0, outcome.stderr);
  const result = lastJson(outcome.stdout) as {
    warmupSteps: number;
    oneWorker: { msPerStep: number };
    independent: { processes: number; microBatch: number; msPerStep: number[]; slowestMsPerStep: number };
    ceilingSpeedupOverOneWorker: number;
  };
  assert.equal(result.warmupSteps, 1, 'no warm-up time: the one step it always takes');
  assert.equal(result.independent.processes, 2);
  assert.equal(result.independent.microBatch, 2);
  assert.equal(result.independent.msPerStep.length, 2);
  for (const ms of result.independent.msPerStep) assert.ok(ms > 0, `a process's step: ${ms} ms`);
  assert.equal(result.independent.slowestMsPerStep, Math.max(...result.independent.msPerStep));
  const expected = result.oneWorker.msPerStep / result.independent.slowestMsPerStep;
  assert.ok(Math.abs(result.ceilingSpeedupOverOneWorker - expected) <= 0.01, `${result.ceilingSpeedupOverOneWorker} vs ${expected}`);
  const alone = await streamfit([...args, '--ceiling']);
  assert.equal(alone.code, 1);
  assert.match(alone.stderr, /--ceiling.*--workers N/);
  // A process that fails leaves the other figures standing and says why.
  const options = { backend: 'wasm', model: 'efficientnet-b0', imageSize: 32, batchSize: 4, steps: 1, workers: 2 };
  const failed = await benchIndependentProcesses(options, join(tempFolder('ceiling'), 'missing-cli.js'));
  assert.ok('unavailable' in failed, JSON.stringify(failed));
  assert.match(failed.unavailable, /a side-by-side process failed: .*missing-cli\.js/);
});
