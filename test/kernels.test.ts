import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
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
  test(`${kind} gradients on wasm equal the cpu backend's for strides 1/2, same/valid, kernels 1/3/5`, async () => {
    for (const kernel of [1, 3, 5]) {
      for (const stride of [1, 2]) {
        for (const pad of ['same', 'valid'] as const) {
          for (const size of [9, 12]) {
            const channels = 6;
            const xShape = [2, size, size + 1, channels];
            const wShape = kind === 'conv' ? [kernel, kernel, channels, 4] : [kernel, kernel, channels, kernel === 3 ? 2 : 1];
            const expected = await convGradients('cpu', kind, xShape, wShape, stride, pad);
            const actual = await convGradients('wasm', kind, xShape, wShape, stride, pad);
            const label = `${kind} k${kernel} s${stride} ${pad} ${size}px`;
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
