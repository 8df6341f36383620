import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { productSumWebgpu } from '../src/kernels/webgpu/channel-sum.ts';
import { scaledInputFilterGradientWebgpu } from '../src/kernels/webgpu/conv2d-backprop-filter.ts';
import { seededRandom } from '../src/math/random.ts';

// The software adapter `make webgpu-sim` installs; on a machine with a GPU, the GPU.
await selectBackend('webgpu');

function randomArray(length: number, seed: string): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length }, () => random() * 2 - 1);
}

/** Gradients of sum(conv(x, w) · weights) with respect to x and w, on the given backend, read asynchronously. */
async function convGradients(
  backend: 'cpu' | 'webgpu',
  kind: 'conv' | 'depthwise',
  xShape: number[],
  wShape: number[],
  stride: number,
  pad: 'same' | 'valid',
): Promise<Float32Array[]> {
  await selectBackend(backend);
  const size = (shape: number[]) => shape.reduce((a, b) => a * b);
  const [dx, dw] = tf.tidy(() => {
    const x = tf.tensor4d(randomArray(size(xShape), `x${xShape}`), xShape as [number, number, number, number]);
    const w = tf.tensor4d(randomArray(size(wShape), `w${wShape}`), wShape as [number, number, number, number]);
    const forward = (input: tf.Tensor4D, filter: tf.Tensor4D) =>
      kind === 'conv' ? tf.conv2d(input, filter, stride, pad) : tf.depthwiseConv2d(input, filter, stride, pad);
    const outShape = forward(x, w).shape;
    const weights = tf.tensor(randomArray(size(outShape), `dy${outShape}`), outShape);
    return tf.grads((input: tf.Tensor, filter: tf.Tensor) => tf.sum(tf.mul(forward(input as tf.Tensor4D, filter as tf.Tensor4D), weights)))(
      [x, w],
    );
  });
  const values = [(await dx.data()) as Float32Array, (await dw.data()) as Float32Array];
  tf.dispose([dx, dw]);
  return values;
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

async function assertSameGradients(kind: 'conv' | 'depthwise', xShape: number[], wShape: number[], stride: number, pad: 'same' | 'valid') {
  const expected = await convGradients('cpu', kind, xShape, wShape, stride, pad);
  const actual = await convGradients('webgpu', kind, xShape, wShape, stride, pad);
  const label = `${kind} x${xShape} w${wShape} s${stride} ${pad}`;
  assert.equal(actual[0].length, expected[0].length, label);
  assert.equal(actual[1].length, expected[1].length, label);
  const inputError = relativeError(actual[0], expected[0]);
  const filterError = relativeError(actual[1], expected[1]);
  assert.ok(inputError <= 1e-4, `${label}: input gradient error ${inputError}`);
  assert.ok(filterError <= 1e-4, `${label}: filter gradient error ${filterError}`);
}

for (const kind of ['conv', 'depthwise'] as const) {
  test(`${kind} gradients on webgpu equal the cpu backend's for strides 1/2, same/valid, kernels 1/3/5`, async () => {
    for (const kernel of [1, 3, 5]) {
      for (const stride of [1, 2]) {
        for (const pad of ['same', 'valid'] as const) {
          for (const size of [9, 12]) {
            const channels = 6;
            const wShape = kind === 'conv' ? [kernel, kernel, channels, 4] : [kernel, kernel, channels, kernel === 3 ? 2 : 1];
            await assertSameGradients(kind, [2, size, size + 1, channels], wShape, stride, pad);
          }
        }
      }
    }
  });
}

test('webgpu gradients stay exact when the row sum is split across workgroups and channels span several tiles', async () => {
  // 4 × 48 × 41 output rows: split into parts; 40 and 72 channels: two- and four-register tiles with ragged edges.
  await assertSameGradients('conv', [4, 48, 41, 40], [1, 1, 40, 72], 1, 'same');
  await assertSameGradients('conv', [4, 48, 41, 20], [3, 3, 20, 36], 2, 'same');
  await assertSameGradients('depthwise', [4, 48, 41, 72], [3, 3, 72, 1], 1, 'same');
  await assertSameGradients('depthwise', [4, 48, 41, 24], [5, 5, 24, 2], 2, 'valid');
});

test("a 1×1 convolution's filter gradient from x and a per-sample scale on webgpu equals the cpu backend's of x·scale, split or not", async () => {
  for (const [batch, size, inChannels, outChannels] of [
    [2, 3, 5, 7],
    [2, 24, 40, 24],
  ]) {
    const xShape = [batch, size, size, inChannels] as const;
    const scaleShape = [batch, 1, 1, inChannels] as const;
    const dyShape = [batch, size, size, outChannels] as const;
    const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [1, 1, inChannels, outChannels] };
    const values = [xShape, scaleShape, dyShape].map((shape) =>
      randomArray(
        shape.reduce((a, b) => a * b),
        `scaled${shape}`,
      ),
    );
    const run = async (backend: 'cpu' | 'webgpu') => {
      await selectBackend(backend);
      const [x, scale, dy] = [xShape, scaleShape, dyShape].map((shape, i) => tf.tensor(values[i], [...shape]));
      const gradient =
        backend === 'webgpu'
          ? scaledInputFilterGradientWebgpu(x, scale, dy, attrs)!
          : tf.tidy(() => tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.mul(x, scale), dy }, attrs as never) as tf.Tensor);
      const result = (await gradient.data()) as Float32Array;
      tf.dispose([x, scale, dy, gradient]);
      return result;
    };
    const expected = await run('cpu');
    const actual = await run('webgpu');
    assert.ok(relativeError(actual, expected) <= 1e-4, `${xShape}: error ${relativeError(actual, expected)}`);
  }
  await selectBackend('webgpu');
  const [x, scale, dy] = [tf.zeros([1, 4, 4, 3]), tf.ones([1, 1, 1, 3]), tf.zeros([1, 2, 2, 2])];
  const strided = { strides: [2, 2], pad: 'same', dataFormat: 'NHWC', filterShape: [1, 1, 3, 2] };
  assert.equal(scaledInputFilterGradientWebgpu(x, scale, dy, strided), undefined, 'a strided convolution is left to tfjs');
  const pointwise = { ...strided, strides: [1, 1] };
  const [twoSamples, twoDy] = [tf.zeros([2, 4, 4, 3]), tf.zeros([2, 4, 4, 2])];
  assert.equal(scaledInputFilterGradientWebgpu(twoSamples, scale, twoDy, pointwise), undefined, 'one scale for two samples');
  tf.dispose([x, scale, dy, twoSamples, twoDy]);
});

test('the webgpu kernels leave no tensors behind', async () => {
  await selectBackend('webgpu');
  await convGradients('webgpu', 'conv', [2, 12, 13, 6], [3, 3, 6, 4], 2, 'same');
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    await convGradients('webgpu', 'conv', [2, 12, 13, 6], [3, 3, 6, 4], 2, 'same');
    await convGradients('webgpu', 'depthwise', [2, 12, 13, 6], [3, 3, 6, 1], 1, 'same');
  }
  assert.equal(tf.memory().numTensors, before);
});

test('sums and means over N·H·W or H·W on webgpu equal the cpu backend, split or not, and other axes still work', async () => {
  const cases: Array<{ shape: number[]; axis: number[]; keepDims: boolean }> = [
    { shape: [4, 48, 41, 72], axis: [0, 1, 2], keepDims: false }, // BatchNorm statistics: rows split across workgroups
    { shape: [2, 5, 7, 3], axis: [0, 1, 2], keepDims: true },
    { shape: [3, 20, 21, 130], axis: [1, 2], keepDims: true }, // squeeze-excite pooling: one block per image
    { shape: [6, 10], axis: [0], keepDims: false },
    { shape: [2, 5, 7, 3], axis: [3], keepDims: false }, // innermost: tfjs' kernel
    { shape: [2, 5, 7, 3], axis: [0, 2], keepDims: false }, // not one run of axes: tfjs' kernel
  ];
  for (const { shape, axis, keepDims } of cases) {
    const values = randomArray(
      shape.reduce((a, b) => a * b),
      `sum${shape}`,
    );
    const results: Record<string, Float32Array[]> = {};
    for (const backend of ['cpu', 'webgpu'] as const) {
      await selectBackend(backend);
      const x = tf.tensor(values, shape);
      const sum = tf.sum(x, axis, keepDims);
      const mean = tf.mean(x, axis, keepDims);
      assert.deepEqual(
        sum.shape,
        tf.tidy(() => tf.ones(shape).sum(axis, keepDims).shape),
      );
      results[backend] = [(await sum.data()) as Float32Array, (await mean.data()) as Float32Array];
      tf.dispose([x, sum, mean]);
    }
    const label = `${shape} over ${axis}`;
    assert.ok(
      relativeError(results.webgpu[0], results.cpu[0]) <= 1e-5,
      `${label}: sum error ${relativeError(results.webgpu[0], results.cpu[0])}`,
    );
    assert.ok(
      relativeError(results.webgpu[1], results.cpu[1]) <= 1e-5,
      `${label}: mean error ${relativeError(results.webgpu[1], results.cpu[1])}`,
    );
  }
});

test("a product's sum over H·W or N·H·W on webgpu, in one pass, equals tf.sum(a·b) on cpu, split or not", async () => {
  for (const { shape, axes, outputShape } of [
    { shape: [3, 20, 21, 130], axes: [1, 2], outputShape: [3, 1, 1, 130] }, // squeeze-excite's scale gradient, split
    { shape: [2, 5, 7, 3], axes: [1, 2], outputShape: [2, 1, 1, 3] },
    { shape: [4, 48, 41, 72], axes: [0, 1, 2], outputShape: [72] },
  ]) {
    const size = shape.reduce((a, b) => a * b);
    const [a, b] = [randomArray(size, `pa${shape}`), randomArray(size, `pb${shape}`)];
    await selectBackend('cpu');
    const expected = tf.tidy(() => tf.reshape(tf.sum(tf.mul(tf.tensor(a, shape), tf.tensor(b, shape)), axes), outputShape));
    const expectedValues = (await expected.data()) as Float32Array;
    expected.dispose();
    await selectBackend('webgpu');
    const [x, y] = [tf.tensor(a, shape), tf.tensor(b, shape)];
    const before = tf.memory().numTensors;
    const actual = productSumWebgpu(x, y, axes, outputShape)!;
    assert.deepEqual(actual.shape, outputShape);
    assert.equal(tf.memory().numTensors, before + 1, 'only the result is made');
    const error = relativeError((await actual.data()) as Float32Array, expectedValues);
    assert.ok(error <= 1e-5, `${shape} over ${axes}: error ${error}`);
    tf.dispose([x, y, actual]);
  }
  const [x, y] = [tf.zeros([2, 3, 4]), tf.zeros([2, 3, 4])];
  assert.equal(productSumWebgpu(x, y, [2], [2, 3, 1]), undefined, 'the last axis is not summed here');
  tf.dispose([x, y]);
});

test('the input gradient of an RGB stem (3 channels, one thread per element) equals the cpu backend on webgpu', async () => {
  await assertSameGradients('conv', [2, 17, 16, 3], [3, 3, 3, 8], 2, 'same');
  await assertSameGradients('conv', [2, 17, 16, 3], [5, 5, 3, 8], 1, 'valid');
});
