import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { batchNormBackwardWebgpu } from '../src/kernels/webgpu/batch-norm-backward.ts';
import { channelMomentsWebgpu } from '../src/kernels/webgpu/channel-moments.ts';
import { updateMovingStatisticsWebgpu } from '../src/kernels/webgpu/moving-statistics.ts';
import { batchNormInputs, batchNormReference, randomArray, updateMovingStatisticsThrice } from './helpers/batch-norm-reference.ts';

function assertClose(actual: Float32Array, expected: Float32Array, label: string): void {
  let scale = 0;
  for (const value of expected) scale = Math.max(scale, Math.abs(value));
  actual.forEach((value, i) => assert.ok(Math.abs(value - expected[i]) <= 1e-4 * scale, `${label}[${i}]: ${value} vs ${expected[i]}`));
}

// Channels over one workgroup's 64, rows split across workgroups, and a single channel.
for (const shape of [
  [2, 5, 7, 70],
  [1, 48, 48, 3],
  [3, 4, 4, 1],
]) {
  test(`BatchNorm's backward pass on webgpu equals autodiff on cpu to 1e-4 for [${shape}]`, async () => {
    const data = batchNormInputs(shape);
    const epsilon = 1e-3;
    await selectBackend('cpu');
    const make = () => ({
      x: tf.tensor(data.x, shape),
      dy: tf.tensor(data.dy, shape),
      gamma: tf.tensor1d(data.gamma),
      beta: tf.tensor1d(data.beta),
    });
    const onCpu = make();
    const [dx, dGamma, dBeta] = batchNormReference(onCpu.x, onCpu.gamma, onCpu.beta, onCpu.dy, epsilon);
    tf.dispose(Object.values(onCpu));
    await selectBackend('webgpu');
    const onGpu = make();
    const { mean, variance } = tf.moments(onGpu.x, [0, 1, 2]);
    const tensorsBefore = tf.memory().numTensors;
    for (const withInputGradient of [true, false]) {
      const gradients = batchNormBackwardWebgpu(onGpu.dy, onGpu.x, mean, variance, onGpu.gamma, epsilon, withInputGradient);
      assertClose((await gradients.dGamma.data()) as Float32Array, dGamma, 'dGamma');
      assertClose((await gradients.dBeta.data()) as Float32Array, dBeta, 'dBeta');
      if (withInputGradient) assertClose((await gradients.dx!.data()) as Float32Array, dx, 'dx');
      else assert.equal(gradients.dx, undefined);
      tf.dispose([gradients.dx, gradients.dGamma, gradients.dBeta].filter((tensor) => tensor !== undefined));
    }
    assert.equal(tf.memory().numTensors, tensorsBefore, 'the kernel leaves no tensor behind');
    tf.dispose([...Object.values(onGpu), mean, variance]);
  });
}

test('the moving statistics update on webgpu (one dispatch, in place) equals the cpu backend, and spares a tensor sharing their data', async () => {
  const channels = 70;
  const arrays = ['moving mean', 'moving variance', 'batch mean', 'batch variance'].map((seed) => randomArray(channels, seed, 1));
  const results: Float32Array[][] = [];
  for (const backend of ['cpu', 'webgpu'] as const) {
    await selectBackend(backend);
    const updated = await updateMovingStatisticsThrice(arrays, 0.9);
    results.push([updated.movingMean, updated.movingVariance]);
    assert.deepEqual(updated.shared, arrays[0], `${backend}: the tensor that shared the moving mean is unchanged`);
  }
  assertClose(results[1][0], results[0][0], 'moving mean');
  assertClose(results[1][1], results[0][1], 'moving variance');
});

// Channels over one workgroup's 64; a single split; 100 splits of 65 rows with the last one empty (37·173 = 6,401 rows);
// values far from zero, where a single pass of Σx and Σx² would lose the variance.
for (const [shape, shift] of [
  [[2, 5, 7, 70], 0],
  [[1, 48, 48, 3], 0],
  [[1, 37, 173, 3], 0],
  [[4, 16, 16, 5], 1000],
] as const) {
  test(`the batch mean and variance on webgpu (Welford's update, merged over splits) equal tf.moments on cpu to 1e-4 for [${shape}] around ${shift}`, async () => {
    const values = randomArray(tf.util.sizeFromShape([...shape]), `moments ${shape}`, shift);
    const results: Float32Array[][] = [];
    for (const backend of ['cpu', 'webgpu'] as const) {
      await selectBackend(backend);
      const x = tf.tensor(values, [...shape]);
      const before = tf.memory().numTensors;
      const { mean, variance } = backend === 'cpu' ? tf.moments(x, [0, 1, 2]) : channelMomentsWebgpu(x);
      assert.equal(tf.memory().numTensors, before + 2, 'only the two moments are left');
      results.push([(await mean.data()) as Float32Array, (await variance.data()) as Float32Array]);
      tf.dispose([x, mean, variance]);
    }
    assertClose(results[1][0], results[0][0], 'mean');
    assertClose(results[1][1], results[0][1], 'variance');
  });
}

test('the moments merge moves the moving averages exactly as the separate update does, and a tensor sharing them keeps its values', async () => {
  await selectBackend('webgpu');
  const shape = [2, 9, 11, 70];
  const x = tf.tensor(randomArray(tf.util.sizeFromShape(shape), 'moving merge', 0.5), shape);
  const start = [randomArray(70, 'moving mean'), randomArray(70, 'moving variance', 2)];
  const separate = start.map((values) => tf.variable(tf.tensor1d(values)));
  const fused = start.map((values) => tf.variable(tf.tensor1d(values)));
  const shared = tf.reshape(fused[0], [70]); // shares the moving mean's data: the update must not write through it
  for (let step = 0; step < 3; step++) {
    const plain = channelMomentsWebgpu(x);
    updateMovingStatisticsWebgpu(separate[0], separate[1], plain.mean, plain.variance, 0.9);
    const merged = channelMomentsWebgpu(x, { mean: fused[0], variance: fused[1], momentum: 0.9 });
    assert.deepEqual(Array.from(await merged.mean.data()), Array.from(await plain.mean.data()));
    assert.deepEqual(Array.from(await merged.variance.data()), Array.from(await plain.variance.data()));
    tf.dispose([plain.mean, plain.variance, merged.mean, merged.variance]);
  }
  for (const i of [0, 1])
    assert.deepEqual(Array.from(await fused[i].data()), Array.from(await separate[i].data()), `moving ${['mean', 'variance'][i]}`);
  assert.notDeepEqual(Array.from(await fused[0].data()), Array.from(start[0]), 'the moving mean moved');
  assert.deepEqual(Array.from(await shared.data()), Array.from(start[0]));
  tf.dispose([x, shared, ...separate, ...fused]);
});
