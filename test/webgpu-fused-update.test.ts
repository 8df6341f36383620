import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { countDispatches } from '../src/backend/webgpu-dispatch-count.ts';
import { fusedUpdate } from '../src/kernels/fused-update.ts';
import { webgpuInternals } from '../src/kernels/webgpu/direct-dispatch.ts';
import { variablesPerDispatch } from '../src/kernels/webgpu/fused-update.ts';
import { createOptimizer } from '../src/train/optimizers.ts';
import { accumulatedTrajectory, optimizerConfigs, optimizerTrajectory } from './helpers/optimizer-trajectory.ts';

// Sizes that are not multiples of the workgroup, one over a workgroup, and a single element.
const shapes: Record<string, number[]> = { 'conv/kernel': [3, 3, 5, 7], 'conv/bias': [13], 'bn/gamma': [1], 'head/kernel': [30, 11] };

function assertClose(actual: Float32Array, expected: Float32Array, tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, label);
  let scale = 0;
  for (const value of expected) scale = Math.max(scale, Math.abs(value));
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    assert.ok(error <= tolerance * Math.max(scale, 1e-6), `${label}[${i}]: ${actual[i]} vs ${expected[i]} (scale ${scale})`);
  }
}

for (const config of optimizerConfigs) {
  test(`the WGSL ${JSON.stringify(config)} update follows tfjs' optimizer on cpu to 1e-5, step for step, slots included`, async () => {
    const expected = await optimizerTrajectory('cpu', config, shapes, 6, 'reference');
    const actual = await optimizerTrajectory('webgpu', config, shapes, 6, 'fused');
    expected.values.forEach((step, index) => {
      for (const name of Object.keys(shapes)) assertClose(actual.values[index][name], step[name], 1e-5, `step ${index + 1}, ${name}`);
    });
    assert.deepEqual(
      actual.weights.map((weight) => weight.name.replace(/_\d+$/, '')),
      expected.weights.map((weight) => weight.name.replace(/_\d+$/, '')),
      'the same slots, in the same order, for checkpoints',
    );
    actual.weights.forEach((weight, index) => assertClose(weight.values, expected.weights[index].values, 1e-5, weight.name));
    assert.equal(actual.tensorsAtEnd, actual.tensorsAfterFirstStep, 'no tensor leaks across steps');
  });
}

test('the Adam update takes as many variables a dispatch as the bindings hold, one more for the betas, with no upload', async () => {
  await selectBackend('webgpu');
  const sizes = [5, 300, 7, 1, 64, 2000, 33];
  const variables = sizes.map((size, i) => tf.variable(tf.ones([size]), true, `count/${i}/kernel`));
  const gradients = Object.fromEntries(variables.map((variable) => [variable.name, tf.fill(variable.shape, 0.5)]));
  const training = createOptimizer({ name: 'adamw', lr: 0.1, weightDecay: 0.1 });
  training.apply(gradients, variables); // the first update makes the slots
  await variables[0].data();
  const { counts } = await countDispatches(async () => {
    training.apply(gradients, variables);
    await variables[0].data();
  });
  const limit = webgpuInternals().device.limits.maxStorageBuffersPerShaderStage;
  const perDispatch = variablesPerDispatch('adam', limit);
  assert.ok(perDispatch >= 2, `the software adapter's ${limit} storage bindings hold several variables`);
  assert.equal(counts.dispatches, Math.ceil(sizes.length / perDispatch) + 1, JSON.stringify(counts));
  assert.deepEqual(Object.keys(counts.byProgram).sort(), ['Streamfit_accumulated_betas', 'Streamfit_adam_update']);
  assert.equal(counts.buffersCreated, 0, 'every buffer comes from the pool (the read back included)');
  // Every variable took the same step: 1 − lr·(m̂/(√v̂ + ε)) twice, then decay, whatever dispatch it was in.
  const values = await Promise.all(variables.map((variable) => variable.data()));
  for (const [i, value] of values.entries())
    assert.ok(
      value.every((x) => x === values[0][0]),
      `variable ${i}: ${value[0]} vs ${values[0][0]}`,
    );
  tf.dispose([...variables, ...Object.values(gradients)]);
  training.optimizer.dispose();
});

test('the in-place update leaves a tensor that shared the variable data untouched', async () => {
  await selectBackend('webgpu');
  const initial = tf.tensor([1, 2, 3, 4, 5]);
  const variable = initial.variable(true, 'shared-webgpu/kernel'); // shares the data of `initial`
  const optimizer = tf.train.sgd(0.5);
  const gradient = tf.ones([5]);
  assert.ok(fusedUpdate(optimizer, { [variable.name]: gradient }));
  assert.deepEqual(Array.from(await initial.data()), [1, 2, 3, 4, 5]);
  assert.deepEqual(Array.from(await variable.data()), [0.5, 1.5, 2.5, 3.5, 4.5]);
  tf.dispose([initial, variable, gradient]);
  optimizer.dispose();
});

for (const config of [optimizerConfigs[1], optimizerConfigs[3]]) {
  test(`applyAccumulated ${JSON.stringify(config)} scales and zeroes the sums inside the WGSL update, as tfjs does on cpu`, async () => {
    const expected = await accumulatedTrajectory('cpu', config, shapes, 4, 'reference-accumulated');
    const actual = await accumulatedTrajectory('webgpu', config, shapes, 4, 'fused-accumulated');
    expected.values.forEach((step, index) => {
      step.forEach((values, i) => assertClose(actual.values[index][i], values, 1e-5, `step ${index + 1}, variable ${i}`));
      for (const sum of actual.sumsAfter[index])
        assert.ok(
          sum.every((value) => value === 0),
          `step ${index + 1}: sums zeroed`,
        );
    });
  });
}
