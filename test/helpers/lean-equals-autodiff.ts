// The lean backward pass against tfjs' autodiff on whatever backend is selected: every ResNet/MobileNet layer kind (the
// families model), then B0 plain and recomputed. The per-backend test files call it after choosing their backend.

import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { createModel } from '../../src/models/create-model.ts';
import { batchTensors } from '../../src/train/batch-tensor.ts';
import { syntheticBatch } from './batches.ts';
import { familiesModel } from './families-model.ts';
import { autodiffGradients, leanGradients, relativeDifferences } from './gradients.ts';

function movingStatistics(model: tf.LayersModel): Promise<Float32Array[]> {
  const weights = model.weights.filter((weight) => /moving_(mean|variance)/.test(weight.name));
  return Promise.all(weights.map(async (weight) => (await weight.read().data()) as Float32Array));
}

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
  // By variable: making a layer untrainable reorders getWeights().
  const weights = model.weights.map((weight) => ({ weight, initial: weight.read().clone() }));
  const restore = () => {
    for (const { weight, initial } of weights) {
      const copy = initial.clone();
      weight.write(copy); // the variable keeps the data; the handle goes
      copy.dispose();
    }
  };
  // BatchNorm with batch statistics, then frozen (its moving ones, as a frozen backbone runs them).
  for (const batchNorm of ['training', 'frozen'] as const) {
    for (const layer of model.layers) if (layer.getClassName() === 'BatchNormalization') layer.trainable = batchNorm === 'training';
    restore();
    const expected = await autodiffGradients(model, batch.x, batch.y, 0);
    const expectedStatistics = await movingStatistics(model);
    for (const recompute of [false, true]) {
      restore();
      const lean = await leanGradients(model, batch.x, batch.y, 0, { recompute });
      const what = `BatchNorm ${batchNorm}, ${recompute ? 'recomputed' : 'plain'}`;
      assert.ok(Math.abs(lean.loss - expected.loss) <= 1e-6 * expected.loss, what);
      assert.ok(relativeDifferences(expected.gradients, lean.gradients).overall <= 1e-5, what);
      // Every trainable BatchNorm's moving mean and variance moved once, as the layer moves them.
      const statistics = await movingStatistics(model);
      assert.equal(statistics.length, expectedStatistics.length);
      assert.ok(relativeDifferences(expectedStatistics, statistics).perVariable <= 1e-5, `${what}: moving statistics`);
    }
  }
  tf.dispose([batch.x, batch.y, ...weights.map(({ initial }) => initial)]);
  model.dispose();
}
