// The lean backward pass against tfjs' autodiff on whatever backend is selected: every ResNet/MobileNet layer kind (the
// families model), then B0 plain and recomputed. The per-backend test files call it after choosing their backend.

import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { createModel } from '../../src/models/create-model.ts';
import { batchTensors } from '../../src/train/batch-tensor.ts';
import { syntheticBatch } from './batches.ts';
import { familiesModel } from './families-model.ts';
import { autodiffGradients, leanGradients, relativeDifferences } from './gradients.ts';

export async function assertLeanEqualsAutodiff(): Promise<void> {
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
}
