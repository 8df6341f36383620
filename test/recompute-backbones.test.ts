import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { createModel } from '../src/models/create-model.ts';
import { Trainer } from '../src/train/trainer.ts';
import { syntheticBatch } from './helpers/batches.ts';

await selectBackend('wasm');

async function summedGradients(model: tf.LayersModel, recompute: boolean, imageSize: number, batchSize: number): Promise<Float32Array[]> {
  const trainer = new Trainer({ model, optimizer: { name: 'sgd', lr: 0.1 }, accumulate: 2, recompute });
  await trainer.step(syntheticBatch(batchSize, imageSize, 3, 5));
  const { values } = await trainer.accumulatorState();
  trainer.dispose();
  return values.map((value) => value.slice());
}

// One model of each family at a small input (VGG and InceptionV3 are the slow ones on wasm: smaller batches).
for (const [name, size, batchSize] of [
  ['resnet50', 32, 4],
  ['vgg16', 32, 2],
  ['inceptionv3', 75, 2],
  ['mobilenetv2', 32, 4],
] as const) {
  test(`recomputed gradients of ${name} equal the ordinary ones to 1e-5`, async () => {
    const tensorsBefore = tf.memory().numTensors;
    const { model } = await createModel(name, { classes: 3, imageSize: size, dropout: 0, freeze: 'none' });
    const initial = model.getWeights().map((weight) => weight.clone());
    const plain = await summedGradients(model, false, size, batchSize);
    model.setWeights(initial);
    const recomputed = await summedGradients(model, true, size, batchSize);
    let scale = 0;
    let difference = 0;
    plain.forEach((values, i) =>
      values.forEach((value, j) => {
        scale = Math.max(scale, Math.abs(value));
        difference = Math.max(difference, Math.abs(value - recomputed[i][j]));
      }),
    );
    assert.ok(scale > 0, 'the gradients are not all zero');
    assert.ok(difference / scale <= 1e-5, `relative difference ${difference / scale}`);
    tf.dispose(initial);
    model.dispose();
    assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor left behind');
  });
}
