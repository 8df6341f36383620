import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { batchNormBackwardWasm } from '../src/kernels/batch-norm-backward.ts';
import { channelMomentsWasm } from '../src/kernels/channel-moments.ts';
import { fusesOnWasm } from '../src/kernels/fuses-on-wasm.ts';
import { batchNormalizationRule } from '../src/memory/lean-backward/rules/batch-normalization.ts';
import { type BatchNormalizationFields, FineTuneBatchNormalization } from '../src/models/layers.ts';
import { batchNormWithBatchStatistics } from '../src/models/lean-gradients.ts';
import { batchNormInputs, batchNormReference, randomArray, updateMovingStatisticsThrice } from './helpers/batch-norm-reference.ts';

/** Every value within `tolerance` of the largest expected magnitude (or of `floor`, where the expected values cancel out). */
function assertClose(actual: Float32Array, expected: Float32Array, label: string, tolerance = 1e-5, floor = 0): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let scale = floor;
  for (const value of expected) scale = Math.max(scale, Math.abs(value));
  actual.forEach((value, i) =>
    assert.ok(Math.abs(value - expected[i]) <= tolerance * scale, `${label}[${i}]: ${value} vs ${expected[i]} (scale ${scale})`),
  );
}

const largest = (values: Float32Array) => values.reduce((most, value) => Math.max(most, Math.abs(value)), 0);

// Channels 1, 3, 4, 7 and 32 (scalar channels only, a 4-wide SIMD block, both, 16-wide blocks); one row, rows within one
// 256-row block, and over several blocks; NHWC and [rows, channels].
const shapes = [1, 3, 4, 7, 32].flatMap((channels) => [
  [1, 1, 1, channels],
  [2, 5, 7, channels],
  [3, 13, 17, channels],
  [300, channels],
]);

test('the per-channel moments on wasm equal tf.moments on cpu to 1e-5 and on wasm bit for bit, in one kernel call', async () => {
  for (const shape of shapes) {
    const axes = shape.slice(0, -1).map((_, axis) => axis);
    // Off zero, so the two-pass variance is tested where a one-pass formula would lose digits.
    const values = randomArray(tf.util.sizeFromShape(shape), `moments ${shape}`, 3);
    await selectBackend('cpu');
    const expected = tf.tidy(() => {
      const { mean, variance } = tf.moments(tf.tensor(values, shape), axes);
      return [mean.dataSync().slice(), variance.dataSync().slice()] as Float32Array[];
    });
    await selectBackend('wasm');
    const x = tf.tensor(values, shape);
    assert.ok(fusesOnWasm(x));
    const tfjs = tf.moments(x, axes);
    const before = tf.memory().numTensors;
    const { mean, variance } = channelMomentsWasm(x);
    assert.equal(tf.memory().numTensors, before + 2, 'mean and variance, nothing else');
    assert.deepEqual(mean.shape, [shape[shape.length - 1]]);
    assertClose(mean.dataSync() as Float32Array, expected[0], `mean [${shape}]`);
    assertClose(variance.dataSync() as Float32Array, expected[1], `variance [${shape}]`);
    assert.deepEqual(mean.dataSync(), tfjs.mean.dataSync(), `mean [${shape}]: tf.moments' on wasm`);
    assert.deepEqual(variance.dataSync(), tfjs.variance.dataSync(), `variance [${shape}]: tf.moments' on wasm`);
    tf.dispose([x, tfjs.mean, tfjs.variance, mean, variance]);
    assert.equal(tf.memory().numTensors, before - 3);
  }
});

test("BatchNorm's backward pass on wasm equals autodiff on cpu to 1e-5, with and without dx and γ", async () => {
  const epsilon = 1e-3;
  for (const shape of shapes) {
    const channels = shape[shape.length - 1];
    const data = batchNormInputs(shape);
    const ones = new Float32Array(channels).fill(1);
    await selectBackend('cpu');
    const expected = new Map<string, Float32Array[]>();
    for (const [name, gamma] of [
      ['γ', data.gamma],
      ['no γ', ones],
    ] as const) {
      const tensors = [tf.tensor(data.x, shape), tf.tensor1d(gamma), tf.tensor1d(data.beta), tf.tensor(data.dy, shape)];
      expected.set(name, batchNormReference(tensors[0], tensors[1], tensors[2], tensors[3], epsilon));
      tf.dispose(tensors);
    }
    await selectBackend('wasm');
    const [x, dy, gamma] = [tf.tensor(data.x, shape), tf.tensor(data.dy, shape), tf.tensor1d(data.gamma)];
    const { mean, variance } = channelMomentsWasm(x);
    // dx is a difference of terms as large as γ/σ·dy; with one row it is zero (x̂ = 0 and dy − dβ/n = 0).
    const inverseDeviation = (variance.dataSync() as Float32Array).map((value) => 1 / Math.sqrt(value + epsilon));
    const tensorsBefore = tf.memory().numTensors;
    for (const withGamma of [true, false]) {
      const [dx, dGamma, dBeta] = expected.get(withGamma ? 'γ' : 'no γ')!;
      const termScale = largest(data.dy) * largest(inverseDeviation) * (withGamma ? largest(data.gamma) : 1);
      for (const withInputGradient of [true, false]) {
        const label = `[${shape}] ${withGamma ? 'γ' : 'no γ'}, ${withInputGradient ? 'dx' : 'no dx'}`;
        const gradients = batchNormBackwardWasm(dy, x, mean, variance, withGamma ? gamma : undefined, epsilon, withInputGradient);
        assertClose(gradients.dBeta.dataSync() as Float32Array, dBeta, `dβ ${label}`);
        // dγ = Σdy·x̂ cancels to zero with one row.
        assertClose(gradients.dGamma.dataSync() as Float32Array, dGamma, `dγ ${label}`, 1e-5, largest(data.dy));
        if (withInputGradient) assertClose(gradients.dx!.dataSync() as Float32Array, dx, `dx ${label}`, 1e-5, termScale);
        else assert.equal(gradients.dx, undefined);
        tf.dispose([gradients.dx, gradients.dGamma, gradients.dBeta].filter((tensor) => tensor !== undefined));
        assert.equal(tf.memory().numTensors, tensorsBefore, `${label}: the kernel leaves no tensor behind`);
      }
    }
    tf.dispose([x, dy, gamma, mean, variance]);
  }
});

test('training-mode BatchNorm forward on wasm (moments, then the normalization) equals tfjs ops on cpu to 1e-5', async () => {
  const epsilon = 1e-3;
  for (const shape of shapes) {
    const channels = shape[shape.length - 1];
    const arrays = [
      randomArray(tf.util.sizeFromShape(shape), `forward ${shape}`, 2),
      randomArray(channels, 'γ', 1),
      randomArray(channels, 'β'),
    ];
    const results: Float32Array[][] = [];
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend(backend);
      const [x, gamma, beta] = [tf.tensor(arrays[0], shape), tf.tensor1d(arrays[1]), tf.tensor1d(arrays[2])];
      const before = tf.memory().numTensors;
      const { output, mean, variance } = batchNormWithBatchStatistics(x, gamma, beta, epsilon);
      assert.equal(tf.memory().numTensors, before + 3, `${backend}: output, mean and variance, nothing else`);
      results.push([output, mean, variance].map((tensor) => tensor.dataSync().slice() as Float32Array));
      tf.dispose([x, gamma, beta, output, mean, variance]);
    }
    // The output of one row is β (x − mean = 0).
    assertClose(results[1][0], results[0][0], `output [${shape}]`, 1e-5, 1);
    assertClose(results[1][1], results[0][1], `mean [${shape}]`);
    assertClose(results[1][2], results[0][2], `variance [${shape}]`);
  }
});

test("the moving statistics update on wasm (one call, in place) is tfjs' formula on cpu bit for bit, and spares a tensor sharing their data", async () => {
  for (const channels of [1, 3, 4, 7, 32]) {
    for (const momentum of [0.99, 0.9, 0.1]) {
      const arrays = ['moving mean', 'moving variance', 'batch mean', 'batch variance'].map((seed) =>
        randomArray(channels, `${seed} ${channels}`, 1),
      );
      await selectBackend('cpu');
      // tfjs-layers' update, as ops: value − (value − batch)·(1 − momentum), three steps.
      const expected = tf.tidy(() =>
        [0, 1].map((k) => {
          let value: tf.Tensor = tf.tensor1d(arrays[k]);
          const batch = tf.tensor1d(arrays[k + 2]);
          for (let step = 0; step < 3; step++) value = tf.sub(value, tf.mul(tf.sub(value, batch), 1 - momentum));
          return value.dataSync().slice() as Float32Array;
        }),
      );
      await selectBackend('wasm');
      const updated = await updateMovingStatisticsThrice(arrays, momentum);
      assert.deepEqual(updated.movingMean, expected[0], `moving mean, ${channels} channels, momentum ${momentum}`);
      assert.deepEqual(updated.movingVariance, expected[1], `moving variance, ${channels} channels, momentum ${momentum}`);
      assert.deepEqual(updated.shared, arrays[0], 'the tensor that shared the moving mean is unchanged');
    }
  }
});

test("the lean pass's rebuilt BatchNorm output on wasm is the forward output bit for bit, with and without γ", async () => {
  await selectBackend('wasm');
  for (const scale of [true, false]) {
    const shape = [2, 5, 7, 19];
    const layer = new FineTuneBatchNormalization({ axis: 3, momentum: 0.99, epsilon: 1e-3, scale, name: `bn_${scale}` });
    layer.apply(tf.input({ shape: shape.slice(1) }));
    const fields = layer as unknown as BatchNormalizationFields;
    tf.tidy(() => {
      if (fields.gamma) fields.gamma.write(tf.tensor1d(randomArray(shape[3], 'rebuild γ', 1)));
      fields.beta!.write(tf.tensor1d(randomArray(shape[3], 'rebuild β')));
    });
    const x = tf.tensor(randomArray(tf.util.sizeFromShape(shape), 'rebuild x', 2), shape);
    const before = tf.memory().numTensors;
    // In a tidy, as the lean pass runs it (a layer without γ makes its ones there).
    const [output, ...extras] = tf.tidy(() => {
      const { output, extras } = batchNormalizationRule.forward(layer, [x], { updateStatistics: false });
      return [output, ...extras!];
    });
    const rebuilt = batchNormalizationRule.rebuild!(layer, [x], extras);
    assert.deepEqual(rebuilt.dataSync(), output.dataSync(), scale ? 'with γ' : 'without γ');
    tf.dispose([output, rebuilt, ...extras]);
    assert.equal(tf.memory().numTensors, before, 'nothing left behind');
    tf.dispose(x);
    layer.dispose();
  }
});
