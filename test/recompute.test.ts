import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { segmentModel } from '../src/memory/segments.ts';
import { createModel } from '../src/models/create-model.ts';
import { Trainer } from '../src/train/trainer.ts';
import { syntheticBatch } from './helpers/batches.ts';

await selectBackend('wasm');

async function summedGradients(
  model: tf.LayersModel,
  recompute: boolean,
  imageSize: number,
  batchSize = 8,
  backward: 'lean' | 'autodiff' = 'lean',
): Promise<{ values: Float32Array[]; peakBytes: number }> {
  const trainer = new Trainer({
    model,
    optimizer: { name: 'sgd', lr: 0.1 },
    accumulate: 2,
    recompute,
    backward,
    memoryBudgetBytes: Number.MAX_SAFE_INTEGER,
  });
  await trainer.step(syntheticBatch(batchSize, imageSize, 3, 5));
  const { values } = await trainer.accumulatorState();
  const peakBytes = trainer.lastPeakBytes;
  trainer.dispose();
  return { values: values.map((v) => v.slice()), peakBytes };
}

test('segments cover every layer once, each fed by the one before', async () => {
  const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 32 });
  const segments = segmentModel(model);
  assert.equal(segments[0].name, 'stem');
  assert.equal(segments[1].name, 'block1a');
  assert.equal(segments.at(-1)!.name, 'head');
  assert.equal(segments.length, 2 + 16);
  assert.equal(
    segments.reduce((n, segment) => n + segment.layers.length, 0),
    model.layers.length - 1,
  );
  segments.slice(1).forEach((segment, i) => assert.equal(segment.inputName, segments[i].outputName));
  model.dispose();
});

for (const backward of ['lean', 'autodiff'] as const)
  test(`recomputed gradients equal the ordinary ones (BatchNorm in training mode too), ${backward} backward pass`, async () => {
    const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 64, dropout: 0, dropConnectRate: 0, freeze: 'none' });
    const initial = model.getWeights().map((weight) => weight.clone());
    const plain = await summedGradients(model, false, 64, 8, backward);
    model.setWeights(initial);
    const recomputed = await summedGradients(model, true, 64, 8, backward);
    let scale = 0;
    let difference = 0;
    plain.values.forEach((values, i) =>
      values.forEach((value, j) => {
        scale = Math.max(scale, Math.abs(value));
        difference = Math.max(difference, Math.abs(value - recomputed.values[i][j]));
      }),
    );
    assert.ok(scale > 0);
    assert.ok(difference / scale <= 1e-5, `relative difference ${difference / scale}`);
    tf.dispose(initial);
    model.dispose();
  });

// With the lean backward pass a B0 step at 224 px keeps little more than its largest layer's workspace, so recomputation
// buys little there (test/lean-backward.test.ts checks what it buys); with tfjs' autodiff it cuts the peak by more than 40%.
test('with tfjs autodiff, recomputation cuts the peak memory of a B0 step at 224 px by at least 40% (batch 2)', async () => {
  const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 224 });
  const base = tf.memory().numBytes;
  const plain = (await summedGradients(model, false, 224, 2, 'autodiff')).peakBytes - base;
  const recomputed = (await summedGradients(model, true, 224, 2, 'autodiff')).peakBytes - base;
  const drop = 1 - recomputed / plain;
  assert.ok(drop >= 0.4, `peak above the model: ${plain} → ${recomputed} bytes (${(drop * 100).toFixed(1)}% less)`);
  model.dispose();
});
