import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { selectBackend } from '../src/backend/ladder.ts';
import { parseBytes } from '../src/config/bytes.ts';
import { estimateStep, estimateWorkers, planMemory, profileModel } from '../src/memory/planner.ts';
import { createModel } from '../src/models/create-model.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'bin', 'streamfit.js');

await selectBackend('cpu');

test('parses memory sizes', () => {
  assert.equal(parseBytes('8GiB'), 8 * 2 ** 30);
  assert.equal(parseBytes('512 MiB'), 512 * 2 ** 20);
  assert.equal(parseBytes('2GB'), 2e9);
  assert.equal(parseBytes(1024), 1024);
  assert.equal(parseBytes('lots'), undefined);
  assert.equal(parseBytes('8 parsecs'), undefined);
});

test('the plan is the largest micro-batch dividing the batch that fits, recomputing only when it buys a larger one', async () => {
  // B7 at 600 px: deep and wide enough that recomputation pays with the lean backward pass (on B0 its activations are
  // already about the size of the largest layer's workspace). Only the profile is computed, no step.
  const { model } = await createModel('efficientnet-b7', { classes: 10, imageSize: 600 });
  const profile = profileModel(model);
  const estimates = [1, 2, 4, 8].map((size) => estimateStep(profile, size, 'adam', false).predictedPeakBytes);
  assert.deepEqual(
    [...estimates].sort((a, b) => a - b),
    estimates,
    'bytes grow with the micro-batch',
  );
  assert.ok(estimateStep(profile, 8, 'adam', true).predictedPeakBytes < estimates[3] * 0.6, 'recomputation keeps far less');
  assert.ok(estimateStep(profile, 8, 'sgd', false).predictedPeakBytes < estimates[3], 'SGD keeps fewer slots than Adam');

  const roomy = planMemory(profile, 64 * 2 ** 30, 32, 'adam');
  assert.deepEqual([roomy.microBatch, roomy.accumulate, roomy.recompute, roomy.fits], [32, 1, false, true]);
  const tight = planMemory(profile, estimates[2] + 1, 32, 'adam');
  assert.equal(tight.microBatch * tight.accumulate, 32);
  assert.ok(tight.predictedPeakBytes <= estimates[2] + 1);
  assert.ok(tight.recompute, 'plain would allow only 4, recomputation more');
  assert.ok(tight.microBatch > 4);
  const hopeless = planMemory(profile, 1000, 32, 'adam');
  assert.equal(hopeless.fits, false);
  model.dispose();
});

test('a frozen backbone keeps no activations in the plan', async () => {
  const frozen = profileModel((await createModel('efficientnet-b0', { classes: 10, imageSize: 128, freeze: 'all' })).model);
  const open = profileModel((await createModel('efficientnet-b0', { classes: 10, imageSize: 128, freeze: 'none' })).model);
  assert.ok(estimateStep(frozen, 8, 'adam', false).breakdown.activations < estimateStep(open, 8, 'adam', false).breakdown.activations / 20);
});

test('B7 at 600 px, batch 32, Adam, on 8 GiB: micro-batch 8 or more', async () => {
  const { model } = await createModel('efficientnet-b7', { classes: 1000, imageSize: 600 });
  const plan = planMemory(profileModel(model), 8 * 2 ** 30, 32, 'adam');
  assert.equal(plan.fits, true);
  assert.ok(plan.microBatch >= 8, `micro-batch ${plan.microBatch}`);
  model.dispose();
});

// With RMSprop the backward pass decides the peak; with Adam at these sizes tfjs' optimizer update does (about 15 bytes per
// trainable byte), so both parts of the estimate are checked against a real step.
for (const [model, size, batch, memory, optimizer] of [
  ['efficientnet-b0', 128, 8, '3GiB', 'adam'],
  ['efficientnet-b0', 224, 8, '2GiB', 'rmsprop'],
  ['efficientnet-b3', 300, 2, '3.5GiB', 'rmsprop'],
] as const) {
  test(`plan --measure: the prediction is within 15% of a real step for ${model} at ${size} px with ${optimizer} on wasm`, async () => {
    const { stdout } = await run(
      process.execPath,
      [
        cli,
        'plan',
        '--model',
        model,
        '--image-size',
        String(size),
        '--batch',
        String(batch),
        '--memory',
        memory,
        '--classes',
        '10',
        '--optimizer',
        optimizer,
        '--measure',
        '--backend',
        'wasm',
        '--json',
      ],
      { maxBuffer: 2 ** 24 },
    );
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.equal(result.fits, true);
    assert.equal(result.batchSize, batch, '--batch is an alias of --batch-size');
    assert.equal(result.microBatch * result.accumulate, batch);
    assert.ok(result.predictedPeakBytes <= parseBytes(memory)!);
    const ratio = result.measuredPeakBytes / result.predictedPeakBytes;
    assert.ok(
      ratio > 0.85 && ratio < 1.15,
      `measured ${result.measuredPeakBytes} vs predicted ${result.predictedPeakBytes} (micro-batch ${result.microBatch}, recompute ${result.recompute})`,
    );
  });
}

test('train with the planner on splits the effective batch to fit the budget', async () => {
  const { applyMemoryPlan } = await import('../src/train/memory-plan.ts');
  const { defaultTrainConfig } = await import('../src/config/train-config.ts');
  const base = {
    ...defaultTrainConfig,
    name: 'plan',
    data: 'x',
    out: 'runs/plan',
    model: 'efficientnet-b0',
    imageSize: 128,
    batchSize: 32,
    microBatch: 32,
    planner: true,
    backend: 'cpu' as const,
  };
  const roomy = await applyMemoryPlan({ ...base, memory: '64GiB' });
  assert.deepEqual([roomy.batchSize, roomy.microBatch, roomy.recompute], [32, 32, false]);
  const tight = await applyMemoryPlan({ ...base, memory: '300MiB' });
  assert.equal(tight.batchSize, 32);
  assert.equal(32 % tight.microBatch, 0);
  assert.ok(tight.microBatch < 32);
  await assert.rejects(applyMemoryPlan({ ...base, memory: '10MiB' }), /does not fit in 10MiB/);
});

test('with N workers the plan counts N workers and the main thread, and gives every worker a micro-batch', async () => {
  const { model } = await createModel('efficientnet-b0', { classes: 10, imageSize: 128, freeze: 'none' });
  const profile = profileModel(model);
  const one = planMemory(profile, 64 * 2 ** 30, 8, 'adam');
  const two = planMemory(profile, 64 * 2 ** 30, 8, 'adam', 2);
  assert.deepEqual([one.microBatch, one.workers], [8, undefined]);
  assert.deepEqual([two.microBatch, two.accumulate, two.workers?.workers], [4, 2, 2], 'each worker gets a micro-batch');
  const workers = two.workers!;
  const step = estimateStep(profile, 4, 'adam', false);
  assert.equal(workers.totalBytes, 2 * workers.perWorkerBytes + workers.mainBytes + workers.sharedBytes);
  assert.equal(two.predictedPeakBytes, workers.totalBytes, 'the budget is compared with the total');
  assert.ok(workers.perWorkerBytes < step.predictedPeakBytes, 'a worker holds no optimizer slots');
  assert.ok(workers.perWorkerBytes > step.breakdown.activations + step.breakdown.params, 'but its own weights and activations');
  assert.ok(workers.mainBytes >= (1 + 2) * profile.trainableBytes, 'the main thread: accumulators and Adam slots');
  assert.equal(
    estimateWorkers(estimateStep(profile, 8, 'adam', false), profile, 'adam', 2).mainBytes,
    workers.mainBytes,
    'independent of the micro-batch',
  );
  // A budget that holds two workers at micro-batch 4 only just not: the plan keeps less (a smaller micro-batch, or
  // recomputation) and still fits.
  const tight = planMemory(profile, workers.totalBytes - 1, 8, 'adam', 2);
  assert.ok(tight.fits && tight.predictedPeakBytes < workers.totalBytes, JSON.stringify(tight.workers));
  assert.ok(tight.microBatch < 4 || tight.recompute, `micro-batch ${tight.microBatch}, recompute ${tight.recompute}`);
  assert.equal(planMemory(profile, workers.totalBytes - 1, 8, 'adam').microBatch, 8, 'one thread would take the whole batch');
  model.dispose();

  const { stdout } = await run(process.execPath, [
    cli,
    'plan',
    '--image-size',
    '128',
    '--batch-size',
    '8',
    '--memory',
    '64GiB',
    '--workers',
    '2',
    '--classes',
    '10',
    '--json',
  ]);
  const planned = JSON.parse(stdout.trim().split('\n').pop()!);
  assert.deepEqual([planned.microBatch, planned.workers.workers], [4, 2]);
  assert.equal(planned.workers.perWorkerBytes, workers.perWorkerBytes);
  assert.equal(planned.predictedPeakBytes, workers.totalBytes);
});
