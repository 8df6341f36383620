import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { createModel } from '../src/models/create-model.ts';
import { batchTensors } from '../src/train/batch-tensor.ts';
import { syntheticBatch } from './helpers/batches.ts';
import { familiesModel } from './helpers/families-model.ts';
import { autodiffGradients, leanGradients, relativeDifferences } from './helpers/gradients.ts';

// The lean backward pass calls only tfjs' own kernels, so it runs on any backend: here webgpu (the software adapter of
// `make webgpu-sim`, or a GPU).
await selectBackend('webgpu');

test('on the webgpu backend, lean gradients equal tfjs autodiff: every ResNet/MobileNet layer kind, and B0 plain and recomputed', async () => {
  const families = familiesModel();
  const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 3);
  const y = tf.tensor1d([1, 2], 'int32');
  const initial = families.getWeights().map((weight) => weight.clone());
  const reference = await autodiffGradients(families, x, y, 0.1);
  families.setWeights(initial);
  assert.ok(relativeDifferences(reference.gradients, (await leanGradients(families, x, y, 0.1)).gradients).overall <= 1e-5);
  tf.dispose([x, y, ...initial]);
  families.dispose();

  const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 32, freeze: 'none', dropout: 0, dropConnectRate: 0 });
  const batch = batchTensors(syntheticBatch(2, 32, 3, 8));
  const weights = model.getWeights().map((weight) => weight.clone());
  const expected = await autodiffGradients(model, batch.x, batch.y, 0);
  for (const recompute of [false, true]) {
    model.setWeights(weights);
    const lean = await leanGradients(model, batch.x, batch.y, 0, { recompute });
    assert.ok(Math.abs(lean.loss - expected.loss) <= 1e-6 * expected.loss);
    assert.ok(relativeDifferences(expected.gradients, lean.gradients).overall <= 1e-5, recompute ? 'recomputed' : 'plain');
  }
  tf.dispose([batch.x, batch.y, ...weights]);
  model.dispose();
});
