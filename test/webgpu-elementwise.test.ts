import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import type { Batch } from '../src/data/samples.ts';
import {
  batchNormAffineWebgpu,
  batchNormSwishGradientWebgpu,
  batchNormSwishWebgpu,
  divideWebgpu,
  reluGradientWebgpu,
  reluWebgpu,
  sigmoidGradientWebgpu,
  swishGradientWebgpu,
  swishWebgpu,
} from '../src/kernels/webgpu/elementwise.ts';
import { seededRandom } from '../src/math/random.ts';
import { batchTensors } from '../src/train/batch-tensor.ts';

function randomArray(length: number, seed: string, scale = 4, shift = 0): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length }, () => (random() * 2 - 1) * scale + shift);
}

/** `compute` on the cpu backend and on webgpu over the same host arrays; both results as arrays. */
async function onBoth(
  arrays: Record<string, { values: Float32Array; shape: number[] }>,
  compute: (t: Record<string, tf.Tensor>, gpu: boolean) => tf.Tensor,
) {
  const results: Float32Array[] = [];
  for (const backend of ['cpu', 'webgpu'] as const) {
    await selectBackend(backend);
    const tensors = Object.fromEntries(Object.entries(arrays).map(([name, { values, shape }]) => [name, tf.tensor(values, shape)]));
    const before = tf.memory().numTensors;
    const result = compute(tensors, backend === 'webgpu');
    results.push((await result.data()) as Float32Array);
    result.dispose();
    assert.equal(tf.memory().numTensors, before, `${backend}: only the result was made`);
    tf.dispose(Object.values(tensors));
  }
  return results;
}

function assertClose(actual: Float32Array, expected: Float32Array, label: string): void {
  let scale = 0;
  for (const value of expected) scale = Math.max(scale, Math.abs(value));
  actual.forEach((value, i) => assert.ok(Math.abs(value - expected[i]) <= 1e-4 * scale, `${label}[${i}]: ${value} vs ${expected[i]}`));
}

// Over one workgroup (256), a non-multiple of it, and a single element.
for (const shape of [[2, 9, 9, 37], [1]]) {
  const size = tf.util.sizeFromShape(shape);
  test(`swish and its gradient on webgpu equal tfjs' ops on cpu to 1e-4 for [${shape}]`, async () => {
    const arrays = { x: { values: randomArray(size, `x ${shape}`), shape }, dy: { values: randomArray(size, `dy ${shape}`, 1), shape } };
    const [forwardCpu, forwardGpu] = await onBoth(arrays, ({ x }, gpu) => (gpu ? swishWebgpu(x) : tf.tidy(() => tf.mul(x, tf.sigmoid(x)))));
    assertClose(forwardGpu, forwardCpu, 'swish');
    const [backwardCpu, backwardGpu] = await onBoth(arrays, ({ x, dy }, gpu) =>
      gpu ? swishGradientWebgpu(dy, x) : tf.tidy(() => tf.grad((input: tf.Tensor) => tf.mul(input, tf.sigmoid(input)))(x, dy)),
    );
    assertClose(backwardGpu, backwardCpu, 'swish gradient');
  });
  test(`division by a number as a uniform on webgpu equals tf.div on cpu to 1e-6 for [${shape}]`, async () => {
    const arrays = { x: { values: randomArray(size, `div ${shape}`), shape } };
    const [expected, actual] = await onBoth(arrays, ({ x }, gpu) => (gpu ? divideWebgpu(x, 49) : tf.div(x, 49)));
    actual.forEach((value, i) =>
      assert.ok(Math.abs(value - expected[i]) <= 1e-6 * Math.abs(expected[i]), `[${i}]: ${value} vs ${expected[i]}`),
    );
  });
  test(`sigmoid's gradient from its output on webgpu equals tf.grad of tf.sigmoid on cpu to 1e-4 for [${shape}]`, async () => {
    const arrays = { x: { values: randomArray(size, `sx ${shape}`), shape }, dy: { values: randomArray(size, `sdy ${shape}`, 1), shape } };
    const [expected, actual] = await onBoth(arrays, ({ x, dy }, gpu) =>
      tf.tidy(() => (gpu ? sigmoidGradientWebgpu(dy, tf.sigmoid(x)) : tf.grad((input: tf.Tensor) => tf.sigmoid(input))(x, dy))),
    );
    assertClose(actual, expected, 'sigmoid gradient');
  });
  test(`BatchNorm's affine map, swish of it and swish's gradient at it on webgpu equal tfjs' ops on cpu to 1e-4 for [${shape}]`, async () => {
    const channels = shape.at(-1)!;
    const perChannel = (seed: string, scale = 1, shift = 0) => ({ values: randomArray(channels, seed, scale, shift), shape: [channels] });
    const arrays = {
      x: { values: randomArray(size, `bn x ${shape}`), shape },
      dy: { values: randomArray(size, `bn dy ${shape}`, 1), shape },
      mean: perChannel('mean'),
      variance: perChannel('variance', 0.5, 1),
      gamma: perChannel('gamma', 1, 1),
      beta: perChannel('beta'),
    };
    const normalized = ({ x, mean, variance, gamma, beta }: Record<string, tf.Tensor>) =>
      tf.batchNorm(x, mean, variance, beta, gamma, 1e-3);
    const swish = (z: tf.Tensor) => tf.mul(z, tf.sigmoid(z));
    const map = ({ x, mean, variance, gamma, beta }: Record<string, tf.Tensor>) => ({ x, mean, variance, gamma, beta, epsilon: 1e-3 });
    const [expected, actual] = await onBoth(arrays, (t, gpu) => (gpu ? batchNormAffineWebgpu(map(t)) : normalized(t)));
    assertClose(actual, expected, 'batch norm');
    const [expectedSwish, actualSwish] = await onBoth(arrays, (t, gpu) =>
      gpu ? batchNormSwishWebgpu(map(t)) : tf.tidy(() => swish(normalized(t))),
    );
    assertClose(actualSwish, expectedSwish, 'swish of batch norm');
    const [expectedGradient, actualGradient] = await onBoth(arrays, (t, gpu) =>
      gpu ? batchNormSwishGradientWebgpu(t.dy, map(t)) : tf.tidy(() => tf.grad(swish)(normalized(t), t.dy)),
    );
    assertClose(actualGradient, expectedGradient, "swish's gradient at batch norm");
  });
}

for (const maxValue of [null, 6]) {
  test(`ReLU${maxValue ? `(${maxValue})` : ''} and its gradient on webgpu, one pass each, equal tfjs' ops on cpu, at 0, the clip and NaN too`, async () => {
    const random = randomArray(2 * 9 * 9 * 37 - 6, `relu ${maxValue}`, 8);
    const values = Float32Array.from([...random, -1, 0, 3, 6, 7, Number.NaN]);
    const shape = [2, 9, 9, 37];
    const arrays = { x: { values, shape }, dy: { values: randomArray(values.length, `relu dy ${maxValue}`, 1), shape } };
    const [forwardCpu, forwardGpu] = await onBoth(arrays, ({ x }, gpu) =>
      gpu ? reluWebgpu(x, maxValue) : tf.tidy(() => (maxValue == null ? tf.relu(x) : tf.clipByValue(tf.relu(x), 0, maxValue))),
    );
    // What the lean rule computed with tfjs' ops before (and still does off webgpu): dy · step(x) · (x ≤ maxValue).
    const [backwardCpu, backwardGpu] = await onBoth(arrays, ({ x, dy }, gpu) =>
      gpu
        ? reluGradientWebgpu(dy, x, maxValue)
        : tf.tidy(() => tf.mul(dy, maxValue == null ? tf.step(x) : tf.mul(tf.step(x), tf.cast(tf.lessEqual(x, maxValue), 'float32')))),
    );
    for (const [actual, expected, label] of [
      [forwardGpu, forwardCpu, 'relu'],
      [backwardGpu, backwardCpu, 'relu gradient'],
    ] as const)
      expected.forEach((value, i) =>
        assert.ok(Object.is(actual[i], value) || actual[i] === value, `${label}[${i}] at x = ${values[i]}: ${actual[i]} vs ${value}`),
      );
  });
}

test('a uint8 batch goes up as bytes and widens on the GPU to the values the host conversion gives', async () => {
  await selectBackend('webgpu');
  const random = seededRandom('bytes');
  // 3 samples of 5×7×3 = 105 bytes: a batch whose rows start and end off a 4-byte boundary, and one that is whole words.
  for (const [samples, height, width] of [
    [3, 5, 7],
    [2, 4, 4],
  ]) {
    const length = samples * height * width * 3;
    const x = Uint8Array.from({ length }, (_, i) => (i < 4 ? [0, 255, 128, 1][i] : Math.floor(random() * 256)));
    const batch = {
      x,
      y: Int32Array.from({ length: samples }, (_, i) => i),
      keys: [],
      shape: [samples, height, width, 3],
      dtype: 'uint8',
      bytes: length,
    } as const;
    for (const [start, end] of [
      [0, samples],
      [1, samples],
    ]) {
      const before = tf.memory().numTensors;
      const { x: tensor, y } = batchTensors(batch as unknown as Batch, start, end);
      assert.deepEqual(tensor.shape, [end - start, height, width, 3]);
      assert.equal(tensor.dtype, 'float32');
      const expected = Array.from(x.subarray(start * height * width * 3, end * height * width * 3));
      assert.deepEqual(Array.from(await tensor.data()), expected, `${samples}×${height}×${width}, rows ${start}–${end}`);
      tf.dispose([tensor, y]);
      assert.equal(tf.memory().numTensors, before);
    }
  }
});
