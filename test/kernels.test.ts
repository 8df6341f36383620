import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { middleAxisLayout } from '../src/kernels/reductions.ts';
import { sliceRuns } from '../src/kernels/slice.ts';
import { seededRandom } from '../src/math/random.ts';
import { activationGradient } from '../src/memory/lean-backward/activation-gradients.ts';
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
          // Batch 1 at 9 px: 90 pixels, not a multiple of the 4-row blocks; 12 px × 2: 312, over one 256-row block.
          for (const [size, channels, batch] of [
            [9, 6, 2],
            [12, 6, 2],
            [9, 23, 1],
            [12, 23, 2],
          ]) {
            const xShape = [batch, size, size + 1, channels];
            const outChannels = channels === 6 ? 4 : 21;
            const wShape = kind === 'conv' ? [kernel, kernel, channels, outChannels] : [kernel, kernel, channels, kernel === 3 ? 2 : 1];
            const expected = await convGradients('cpu', kind, xShape, wShape, stride, pad);
            const actual = await convGradients('wasm', kind, xShape, wShape, stride, pad);
            const label = `${kind} k${kernel} s${stride} ${pad} ${JSON.stringify(xShape)}`;
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

/** Runs `compute` on the cpu backend, then on wasm, and returns both results' shapes and values. */
async function onBothBackends(compute: () => tf.Tensor) {
  const results = [];
  for (const backend of ['cpu', 'wasm'] as const) {
    await selectBackend(backend);
    results.push(
      tf.tidy(() => {
        const result = compute();
        return { shape: result.shape, dtype: result.dtype, data: Array.from(result.dataSync()) };
      }),
    );
  }
  return { expected: results[0], actual: results[1] };
}

test("1×1 convolutions on wasm (compiled product, no XNNPACK packing) equal the cpu backend's, with and without bias", async () => {
  // Rows (N·H·W) and output channels that leave remainders beyond the 4 × 8 blocks; a strided, a 3×3 and a relu one go
  // to tfjs-wasm's own kernel.
  const cases: { x: number[]; filter: number[]; stride?: number; activation?: 'relu' }[] = [
    { x: [2, 5, 7, 23], filter: [1, 1, 23, 21] },
    { x: [1, 3, 3, 8], filter: [1, 1, 8, 16] },
    { x: [3, 1, 1, 40], filter: [1, 1, 40, 10] },
    { x: [2, 6, 6, 12], filter: [1, 1, 12, 7], stride: 2 },
    { x: [2, 6, 6, 5], filter: [3, 3, 5, 9] },
    { x: [2, 6, 6, 12], filter: [1, 1, 12, 9], activation: 'relu' },
  ];
  for (const { x, filter, stride = 1, activation } of cases) {
    for (const withBias of [false, true]) {
      const values = (seed: string, shape: number[]) => tf.tensor(randomArray(tf.util.sizeFromShape(shape), seed), shape);
      const { expected, actual } = await onBothBackends(() =>
        tf.fused.conv2d({
          x: values('pointwise x', x) as tf.Tensor4D,
          filter: values('pointwise filter', filter) as tf.Tensor4D,
          strides: stride,
          pad: 'same',
          bias: withBias ? values('pointwise bias', [filter[3]]) : undefined,
          activation,
        }),
      );
      const label = `conv ${JSON.stringify(x)} by ${JSON.stringify(filter)} stride ${stride} ${activation ?? 'linear'} bias ${withBias}`;
      assert.deepEqual(actual.shape, expected.shape, label);
      const error = relativeError(Float32Array.from(actual.data), Float32Array.from(expected.data));
      assert.ok(error <= 1e-5, `${label}: error ${error}`);
    }
  }
  const { expected, actual } = await onBothBackends(() =>
    tf.conv2d(
      tf.tensor(randomArray(2 * 4 * 4 * 9, 'plain x'), [2, 4, 4, 9]) as tf.Tensor4D,
      tf.ones([1, 1, 9, 13]) as tf.Tensor4D,
      1,
      'valid',
    ),
  );
  assert.ok(relativeError(Float32Array.from(actual.data), Float32Array.from(expected.data)) <= 1e-5, 'Conv2D (unfused)');
});

test("swish's gradient on wasm (one compiled pass, its own exp) equals the cpu backend's, at the extremes too", async () => {
  const swish = activationGradient('swish')!;
  // 4·23·5 values: SIMD blocks and a scalar tail; inputs up to ±12 and the extremes where σ saturates or exp would overflow.
  const shape = [4, 23, 5];
  const x = randomArray(tf.util.sizeFromShape(shape), 'swish x').map((value) => value * 12);
  x.set([0, -0, 1e-8, -1e-8, 87, -87, 88.8, -88.8, 100, -100, 1e30, -1e30]);
  const dy = randomArray(x.length, 'swish dy');
  const { expected, actual } = await onBothBackends(() => swish.backward(tf.tensor(dy, shape), tf.tensor(x, shape)));
  assert.deepEqual(actual.shape, expected.shape);
  for (let i = 0; i < x.length; i++) {
    // Relative to the value, with a floor: where the gradient is tiny (σ ≈ 0) both are 0 to within float32 denormals.
    const error = Math.abs(actual.data[i] - expected.data[i]) / Math.max(Math.abs(expected.data[i]), 1e-6);
    assert.ok(error <= 1e-5, `x ${x[i]}, dy ${dy[i]}: ${actual.data[i]} against ${expected.data[i]}`);
  }
});

test("FusedBatchNorm on wasm equals the cpu backend's with and without scale and offset, [C] and [1, 1, 1, C] statistics", async () => {
  for (const [shape, statisticsShape] of [
    [[2, 5, 7, 23], [23]],
    [
      [2, 5, 7, 23],
      [1, 1, 1, 23],
    ],
    [[9, 16], [16]],
    [
      [2, 3, 4, 5],
      [4, 5],
    ], // statistics over two axes: tfjs' own kernel
  ]) {
    for (const withScaleAndOffset of [true, false]) {
      const values = (seed: string, shape: number[], shift = 0) =>
        tf.tensor(
          randomArray(tf.util.sizeFromShape(shape), seed).map((value) => value + shift),
          shape,
        );
      const { expected, actual } = await onBothBackends(() =>
        tf.batchNorm(
          values('bn x', shape, 0.5),
          values('bn mean', statisticsShape),
          values('bn variance', statisticsShape, 1.5),
          withScaleAndOffset ? values('bn offset', statisticsShape) : undefined,
          withScaleAndOffset ? values('bn scale', statisticsShape) : undefined,
          1e-3,
        ),
      );
      const label = `batchNorm ${JSON.stringify(shape)} statistics ${JSON.stringify(statisticsShape)} scale/offset ${withScaleAndOffset}`;
      assert.deepEqual(actual.shape, expected.shape, label);
      const error = relativeError(Float32Array.from(actual.data), Float32Array.from(expected.data));
      assert.ok(error <= 1e-4, `${label}: error ${error}`);
    }
  }
});

test('Slice is split into the longest contiguous runs over strided outer axes', () => {
  // ZeroPadding2D's gradient: drop the last row and column of each image, runs of 64 pixels × 96 channels.
  assert.deepEqual(sliceRuns([8, 65, 65, 96], [0, 0, 0, 0], [8, 64, 64, 96]), {
    offset: 0,
    run: 64 * 96,
    outer: [
      [1, 0],
      [8, 65 * 65 * 96],
      [64, 65 * 96],
    ],
  });
  assert.deepEqual(sliceRuns([5, 7], [1, 2], [3, 4]), {
    offset: 9,
    run: 4,
    outer: [
      [1, 35],
      [1, 35],
      [3, 7],
    ],
  });
  assert.equal(sliceRuns([1, 2, 3, 4, 5], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]), undefined, "rank 5: tfjs-wasm's own kernel");
});

test("Slice on wasm equals the cpu backend's for ranks 1–5, float32 and int32, contiguous or not", async () => {
  const cases: [number[], number[], number[]][] = [
    [
      [2, 9, 9, 6],
      [0, 0, 0, 0],
      [2, 8, 8, 6],
    ],
    [
      [2, 9, 9, 6],
      [1, 2, 3, 1],
      [1, 5, 4, 3],
    ],
    [
      [3, 4, 5],
      [1, 0, 2],
      [2, 4, 3],
    ],
    [
      [7, 5],
      [2, 1],
      [3, -1],
    ],
    [[11], [3], [5]],
    [
      [4, 6],
      [1, 0],
      [2, 6],
    ], // contiguous: tfjs' own kernel
    [
      [2, 3, 4, 5, 6],
      [0, 1, 0, 2, 1],
      [2, 1, 3, 2, 4],
    ], // rank 5: tfjs' own kernel
  ];
  for (const [shape, begin, size] of cases) {
    for (const dtype of ['float32', 'int32'] as const) {
      const values = randomArray(tf.util.sizeFromShape(shape), `slice${shape}`).map((value) =>
        dtype === 'int32' ? Math.round(value * 100) : value,
      );
      const { expected, actual } = await onBothBackends(() => tf.slice(tf.tensor(values, shape, dtype), begin, size));
      assert.deepEqual(actual, expected, `slice ${JSON.stringify({ shape, begin, size, dtype })}`);
    }
  }
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
