import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { middleAxisLayout } from '../src/kernels/reductions.ts';
import { seededRandom } from '../src/math/random.ts';
import { createModel } from '../src/models/create-model.ts';

function randomArray(length: number, seed: string): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length }, () => random() * 2 - 1);
}

/** Gradients of sum(conv(x, w) · weights) with respect to x and w, on the given backend. */
async function convGradients(
  backend: 'cpu' | 'wasm',
  kind: 'conv' | 'depthwise',
  xShape: number[],
  wShape: number[],
  stride: number,
  pad: 'same' | 'valid',
) {
  await selectBackend(backend);
  return tf.tidy(() => {
    const x = tf.tensor4d(
      randomArray(
        xShape.reduce((a, b) => a * b),
        `x${xShape}`,
      ),
      xShape as [number, number, number, number],
    );
    const w = tf.tensor4d(
      randomArray(
        wShape.reduce((a, b) => a * b),
        `w${wShape}`,
      ),
      wShape as [number, number, number, number],
    );
    const forward = (input: tf.Tensor4D, filter: tf.Tensor4D) =>
      kind === 'conv' ? tf.conv2d(input, filter, stride, pad) : tf.depthwiseConv2d(input, filter, stride, pad);
    const outShape = forward(x, w).shape;
    const weights = tf.tensor(
      randomArray(
        outShape.reduce((a, b) => a * b),
        `dy${outShape}`,
      ),
      outShape,
    );
    const [dx, dw] = tf.grads((input: tf.Tensor, filter: tf.Tensor) =>
      tf.sum(tf.mul(forward(input as tf.Tensor4D, filter as tf.Tensor4D), weights)),
    )([x, w]);
    return [dx.dataSync().slice() as Float32Array, dw.dataSync().slice() as Float32Array];
  });
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    difference = Math.max(difference, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return difference / scale;
}

for (const kind of ['conv', 'depthwise'] as const) {
  // 23 channels = one 16-wide SIMD block, one 4-wide block and 3 scalar channels; 6 channels has no 16-wide block.
  test(`${kind} gradients on wasm equal the cpu backend's for strides 1/2, same/valid, kernels 1/3/5, 6/23 channels`, async () => {
    for (const kernel of [1, 3, 5]) {
      for (const stride of [1, 2]) {
        for (const pad of ['same', 'valid'] as const) {
          for (const [size, channels] of [
            [9, 6],
            [12, 6],
            [9, 23],
            [12, 23],
          ]) {
            const xShape = [2, size, size + 1, channels];
            const outChannels = channels === 6 ? 4 : 21;
            const wShape = kind === 'conv' ? [kernel, kernel, channels, outChannels] : [kernel, kernel, channels, kernel === 3 ? 2 : 1];
            const expected = await convGradients('cpu', kind, xShape, wShape, stride, pad);
            const actual = await convGradients('wasm', kind, xShape, wShape, stride, pad);
            const label = `${kind} k${kernel} s${stride} ${pad} ${size}px ${channels}ch`;
            assert.equal(actual[0].length, expected[0].length, label);
            assert.ok(
              relativeError(actual[0], expected[0]) <= 1e-4,
              `${label}: input gradient error ${relativeError(actual[0], expected[0])}`,
            );
            assert.ok(
              relativeError(actual[1], expected[1]) <= 1e-4,
              `${label}: filter gradient error ${relativeError(actual[1], expected[1])}`,
            );
          }
        }
      }
    }
  });
}

test('Sum and Mean take the compiled path only for contiguous axes that keep the last one', () => {
  assert.deepEqual(middleAxisLayout([8, 64, 64, 32], [0, 1, 2]), { outer: 1, reduce: 8 * 64 * 64, inner: 32, axes: [0, 1, 2] });
  assert.deepEqual(middleAxisLayout([8, 64, 64, 32], [2, 1]), { outer: 8, reduce: 64 * 64, inner: 32, axes: [1, 2] });
  assert.deepEqual(middleAxisLayout([6, 40], -2), { outer: 1, reduce: 6, inner: 40, axes: [0] });
  assert.equal(middleAxisLayout([8, 64, 64, 32], [3]), undefined, 'innermost: tfjs-wasm needs no transpose');
  assert.equal(middleAxisLayout([8, 64, 64, 32], [0, 2]), undefined, 'not contiguous');
  assert.equal(middleAxisLayout([8, 0, 64, 32], [1, 2]), undefined, 'empty');
});

test("Sum and Mean on wasm equal the cpu backend's over N·H·W, H·W, leading and innermost axes", async () => {
  const cases: [number[], number | number[], boolean][] = [
    [[4, 30, 30, 23], [0, 1, 2], false], // 3600 rows: several float32 blocks added in float64
    [[4, 30, 30, 23], [1, 2], true],
    [[2, 5, 7, 16], [0], false],
    [[2, 5, 7, 16], [1], true],
    [[3, 5, 7], [0, 1], false],
    [[6, 40], 0, true],
    [[2, 5, 7, 3], [-1], false], // innermost: tfjs' own kernel
    [[2, 5, 7, 3], [0, 2], false], // not contiguous: tfjs' own kernel
  ];
  for (const [shape, axis, keepDims] of cases) {
    for (const op of ['sum', 'mean'] as const) {
      const values = randomArray(
        shape.reduce((a, b) => a * b),
        `reduce${shape}`,
      ).map((value) => value + 3);
      const run = async (backend: 'cpu' | 'wasm') => {
        await selectBackend(backend);
        return tf.tidy(() => {
          const input = tf.tensor(values, shape);
          const result = op === 'sum' ? tf.sum(input, axis, keepDims) : tf.mean(input, axis, keepDims);
          return { shape: result.shape, data: result.dataSync().slice() as Float32Array };
        });
      };
      const expected = await run('cpu');
      const actual = await run('wasm');
      const label = `${op} ${JSON.stringify(shape)} axis ${JSON.stringify(axis)} keepDims ${keepDims}`;
      assert.deepEqual(actual.shape, expected.shape, label);
      assert.ok(relativeError(actual.data, expected.data) <= 1e-4, `${label}: error ${relativeError(actual.data, expected.data)}`);
    }
  }
  // Integer sums keep tfjs' kernel and dtype.
  await selectBackend('wasm');
  const counts = tf.tensor([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
  const total = tf.sum(counts, 0);
  assert.equal(total.dtype, 'int32');
  assert.deepEqual(Array.from(total.dataSync()), [9, 12]);
  tf.dispose([counts, total]);
});

test('EfficientNet-B0 trains on wasm without leaking tensors', async () => {
  await selectBackend('wasm');
  const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 32 });
  const optimizer = tf.train.adam(1e-3);
  const x = tf.randomUniform([2, 32, 32, 3], 0, 255);
  const y = tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3);
  const step = () =>
    tf.dispose(
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true) ?? [],
    );
  const before = model.getLayer('stem_conv').getWeights()[0].dataSync().slice();
  step();
  const afterFirst = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) step();
  assert.equal(tf.memory().numTensors, afterFirst);
  assert.notDeepEqual(model.getLayer('stem_conv').getWeights()[0].dataSync(), before, 'the stem convolution learned');
  tf.dispose([x, y]);
  model.dispose();
  optimizer.dispose();
});
