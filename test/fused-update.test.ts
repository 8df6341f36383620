import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { fusedUpdate } from '../src/kernels/fused-update.ts';
import { createOptimizer } from '../src/train/optimizers.ts';
import { Trainer } from '../src/train/trainer.ts';
import { accumulatedTrajectory, optimizerConfigs, optimizerTrajectory, randomArray } from './helpers/optimizer-trajectory.ts';

// Odd sizes: each has a 4-wide SIMD part and a scalar tail, or only a tail.
const shapes: Record<string, number[]> = { 'conv/kernel': [3, 3, 5, 7], 'conv/bias': [13], 'bn/gamma': [1], 'head/kernel': [6, 11] };

for (const config of optimizerConfigs) {
  test(`the fused ${JSON.stringify(config)} update equals tfjs' optimizer bit for bit, step for step, slots included`, async () => {
    // The cpu backend runs tfjs' own applyGradients (float32 operations, as tfjs-wasm's); wasm runs the fused kernel.
    const expected = await optimizerTrajectory('cpu', config, shapes, 6, 'reference');
    const actual = await optimizerTrajectory('wasm', config, shapes, 6, 'fused');
    expected.values.forEach((step, index) => {
      for (const name of Object.keys(shapes)) assert.deepEqual(actual.values[index][name], step[name], `step ${index + 1}, ${name}`);
    });
    assert.deepEqual(
      actual.weights.map((weight) => weight.name.replace(/_\d+$/, '')),
      expected.weights.map((weight) => weight.name.replace(/_\d+$/, '')),
      'the same slots, in the same order, for checkpoints',
    );
    actual.weights.forEach((weight, index) => assert.deepEqual(weight.values, expected.weights[index].values, weight.name));
    assert.equal(actual.tensorsAtEnd, actual.tensorsAfterFirstStep, 'no tensor leaks across steps');
  });
}

for (const config of optimizerConfigs) {
  test(`applyAccumulated ${JSON.stringify(config)} scales and zeroes the sums inside the fused wasm update, bit for bit as tfjs on cpu`, async () => {
    // On cpu: a tfjs multiply by the scale, the optimizer, then zerosLike; on wasm all of it in the kernel's one pass.
    const expected = await accumulatedTrajectory('cpu', config, shapes, 4, 'reference-accumulated');
    const actual = await accumulatedTrajectory('wasm', config, shapes, 4, 'fused-accumulated');
    expected.values.forEach((step, index) => {
      step.forEach((values, i) => assert.deepEqual(actual.values[index][i], values, `step ${index + 1}, variable ${i}`));
      actual.sumsAfter[index].forEach((sum, i) =>
        assert.ok(
          sum.every((value) => value === 0),
          `step ${index + 1}: sum ${i} zeroed`,
        ),
      );
    });
    assert.equal(actual.tensorsAtEnd, actual.tensorsAfterFirstStep, 'no tensor leaks across steps');
  });
}

test('the fused update runs on wasm for every optimizer streamfit makes, with scaled and cleared sums too, and declines other backends', async () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    await selectBackend(backend);
    for (const config of optimizerConfigs) {
      const variable = tf.variable(
        tf.ones([5]),
        true,
        `declines/${backend}/${config.name}/${config.momentum ?? 0}${config.nesterov ?? ''}`,
      );
      const training = createOptimizer(config);
      const gradient = tf.fill([5], 0.5);
      assert.equal(
        fusedUpdate(training.optimizer, { [variable.name]: gradient }),
        backend === 'wasm',
        `${backend} ${JSON.stringify(config)}`,
      );
      // The trainer's accumulated sums: scaled and cleared in the same call.
      const sum = tf.variable(tf.fill([5], 1.5), false);
      const handling = { gradientScale: 1 / 3, clearGradients: true };
      assert.equal(fusedUpdate(training.optimizer, { [variable.name]: sum }, undefined, handling), backend === 'wasm', `${backend} sums`);
      if (backend === 'wasm') assert.deepEqual(Array.from(sum.dataSync()), [0, 0, 0, 0, 0], 'the sums are cleared');
      tf.dispose([variable, gradient, sum]);
      training.optimizer.dispose();
    }
  }
});

test('the fused update leaves a tensor that shares the variable data untouched', async () => {
  await selectBackend('wasm');
  const initial = tf.tensor([1, 2, 3, 4, 5]);
  const variable = initial.variable(true, 'shared/kernel'); // shares the data of `initial`
  const optimizer = tf.train.sgd(0.5);
  const gradient = tf.ones([5]);
  assert.ok(fusedUpdate(optimizer, { [variable.name]: gradient }));
  assert.deepEqual(Array.from(initial.dataSync()), [1, 2, 3, 4, 5]);
  assert.deepEqual(Array.from(variable.dataSync()), [0.5, 1.5, 2.5, 3.5, 4.5]);
  tf.dispose([initial, variable, gradient]);
  optimizer.dispose();
});

test('convolutions and products see the updated weights (tfjs-wasm caches XNNPACK operators by filter tensor)', async () => {
  await selectBackend('wasm');
  const x = tf.tensor(randomArray(2 * 5 * 5 * 3, 'cache x'), [2, 5, 5, 3]);
  const cases: [string, number[], (filter: tf.Tensor) => tf.Tensor][] = [
    ['conv', [3, 3, 3, 4], (filter) => tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same')],
    ['pointwise', [1, 1, 3, 4], (filter) => tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same')],
    ['depthwise', [3, 3, 3, 1], (filter) => tf.depthwiseConv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same')],
    ['matMul', [3, 4], (filter) => tf.matMul(tf.reshape(x, [50, 3]), filter as tf.Tensor2D)],
  ];
  for (const [label, shape, apply] of cases) {
    const filter = tf.variable(
      tf.tensor(randomArray(tf.util.sizeFromShape(shape), `cache ${label}`), shape),
      true,
      `cache/${label}/kernel`,
    );
    const optimizer = tf.train.adam(0.1);
    tf.dispose(apply(filter)); // tfjs-wasm now holds an operator with these weights packed
    const gradient = tf.onesLike(filter);
    assert.ok(fusedUpdate(optimizer, { [filter.name]: gradient }));
    const fresh = tf.tensor(filter.dataSync(), shape); // the new weights in a tensor tfjs-wasm has never seen
    const [actual, expected] = [apply(filter), apply(fresh)];
    assert.deepEqual(actual.dataSync(), expected.dataSync(), `${label} uses the updated weights`);
    tf.dispose([filter, gradient, fresh, actual, expected]);
    optimizer.dispose();
  }
  x.dispose();
});

/** A small convnet with every layer kind EfficientNet trains (conv, BatchNorm, depthwise, 1×1, dense), no dropout. */
function smallConvnet(): tf.LayersModel {
  // Seeded, so the comparison's margin is the same on every run.
  const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [12, 12, 3],
        filters: 8,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        useBias: false,
        kernelInitializer: seeded(1),
      }),
      tf.layers.batchNormalization(),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: seeded(2) }),
      tf.layers.conv2d({ filters: 12, kernelSize: 1, useBias: false, kernelInitializer: seeded(3) }),
      tf.layers.batchNormalization(),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: seeded(4) }),
    ],
  });
}

test("Trainer steps on wasm (compiled kernels, fused update) follow the cpu backend's", async () => {
  const size = 6;
  const pixels = Uint8Array.from(randomArray(size * 12 * 12 * 3, 'trainer pixels'), (value) => Math.round((value + 1) * 127));
  const batch = {
    x: pixels,
    y: Int32Array.from({ length: size }, (_, i) => i % 3),
    keys: [],
    shape: [size, 12, 12, 3],
    dtype: 'uint8',
    bytes: pixels.length,
  };
  let initial: Float32Array[] | undefined;
  const results: Float32Array[][] = [];
  for (const backend of ['cpu', 'wasm'] as const) {
    await selectBackend(backend);
    const model = smallConvnet();
    initial ??= model.getWeights().map((weight) => weight.dataSync().slice() as Float32Array);
    model.setWeights(model.getWeights().map((weight, i) => tf.tensor(initial![i], weight.shape)));
    const trainer = new Trainer({ model, optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 }, accumulate: 2 });
    for (let step = 0; step < 6; step++) await trainer.step(batch as never);
    results.push(model.getWeights().map((weight) => weight.dataSync().slice() as Float32Array));
    trainer.dispose();
    model.dispose();
  }
  const [expected, actual] = results;
  expected.forEach((values, i) => {
    let difference = 0;
    let scale = 0;
    let moved = 0;
    for (let k = 0; k < values.length; k++) {
      difference = Math.max(difference, Math.abs(actual[i][k] - values[k]));
      scale = Math.max(scale, Math.abs(values[k]));
      moved = Math.max(moved, Math.abs(values[k] - initial![i][k]));
    }
    // Relative to how far training moved the weight: a sum with cancellation (BatchNorm's beta starts at 0) carries a
    // larger relative error than each kernel's 1e-4, but stale or wrong weights miss by a large part of the step.
    assert.ok(difference <= 1e-3 * moved + 1e-6 * scale, `weight ${i}: ${difference} apart (moved ${moved}, largest value ${scale})`);
    assert.ok(moved > 0, `weight ${i} was trained`);
  });
});
