import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { crossEntropyWithGradient } from '../src/memory/lean-backward/cross-entropy.ts';
import type { Layer } from '../src/memory/lean-backward/layer-rule.ts';
import { LeanBackward } from '../src/memory/lean-backward/lean-step.ts';
import { estimateGraphMemory, estimateRecomputedMemory } from '../src/memory/lean-backward/memory-estimate.ts';
import { MicroBatchProgress } from '../src/memory/lean-backward/micro-batch-progress.ts';
import { PendingGradients } from '../src/memory/lean-backward/pending-gradients.ts';
import { dropoutMask } from '../src/memory/lean-backward/rules/dropout.ts';
import { SavedValue } from '../src/memory/lean-backward/saved-value.ts';
import { share } from '../src/memory/lean-backward/tensor-views.ts';
import { withPeakBytes } from '../src/memory/peak-bytes.ts';
import { createModel } from '../src/models/create-model.ts';
import { batchTensors } from '../src/train/batch-tensor.ts';
import { crossEntropy } from '../src/train/loss.ts';
import { type BackoffEvent, Trainer } from '../src/train/trainer.ts';
import { syntheticBatch } from './helpers/batches.ts';
import { familiesModel } from './helpers/families-model.ts';
import { autodiffGradients, leanGradients, relativeDifferences } from './helpers/gradients.ts';

await selectBackend('wasm');

const movingStatistics = (model: tf.LayersModel) =>
  model.weights.filter((weight) => /moving_(mean|variance)/.test(weight.name)).map((weight) => weight.read().dataSync().slice());

/** Every dropout layer (top dropout, stochastic depth) gets a seed, so tfjs and the lean pass draw the same masks. */
function seedDropout(model: tf.LayersModel, seed: number): void {
  const layers = model.layers.filter((layer) => layer.getClassName() === 'Dropout') as unknown as Array<{ seed?: number }>;
  layers.forEach((layer, i) => (layer.seed = seed + i));
}

function assertSameGradients(reference: { loss: number; gradients: Float32Array[] }, lean: typeof reference, what: string): void {
  assert.ok(Math.abs(reference.loss - lean.loss) <= 1e-6 * Math.abs(reference.loss), `${what}: loss ${reference.loss} vs ${lean.loss}`);
  const { overall, perVariable } = relativeDifferences(reference.gradients, lean.gradients);
  assert.ok(overall <= 1e-5, `${what}: gradients differ by ${overall} of the largest`);
  // Gradients that cancel almost entirely (a BatchNorm offset feeding a padded depthwise convolution) carry a few 1e-5
  // of rounding in both computations.
  assert.ok(perVariable <= 1e-4, `${what}: a variable's gradient differs by ${perVariable} of its own largest value`);
}

for (const name of ['efficientnet-b0', 'efficientnet-b3'] as const)
  for (const batchNorm of ['training', 'frozen'] as const)
    test(`${name}: loss, gradients and moving statistics equal tfjs autodiff, plain and recomputed, BatchNorm ${batchNorm}`, async () => {
      // Dropout and stochastic depth on (seeded), label smoothing on: every layer kind of the model is exercised.
      const { model } = await createModel(name, { classes: 5, imageSize: 64, freeze: 'none', dropout: 0.3, dropConnectRate: 0.5 });
      if (batchNorm === 'frozen')
        for (const layer of model.layers) if (layer.getClassName() === 'BatchNormalization') layer.trainable = false;
      seedDropout(model, 100);
      const { x, y } = batchTensors(syntheticBatch(4, 64, 5, 3));
      const initial = model.getWeights().map((weight) => weight.clone());
      const initialStatistics = movingStatistics(model);
      const reference = await autodiffGradients(model, x, y, 0.1);
      const referenceStatistics = movingStatistics(model);
      assert.equal(
        referenceStatistics.some((values, i) => values.some((value, j) => value !== initialStatistics[i][j])),
        batchNorm === 'training',
        'a training step moves the statistics of trainable BatchNorm layers only',
      );
      for (const recompute of [false, true]) {
        model.setWeights(initial);
        const before = tf.memory().numTensors;
        const lean = await leanGradients(model, x, y, 0.1, { recompute, seed: 100 });
        assert.equal(tf.memory().numTensors, before, 'the lean step leaves no tensor behind');
        assertSameGradients(reference, lean, recompute ? 'recomputed' : 'plain');
        assert.deepEqual(movingStatistics(model), referenceStatistics, 'moving statistics updated identically');
      }
      tf.dispose([x, y, ...initial]);
      model.dispose();
    });

test('the layer kinds of ResNet, VGG, MobileNet and Inception have rules whose gradients equal tfjs autodiff', async () => {
  const model = familiesModel();
  assert.deepEqual(new LeanBackward(model).autodiffLayers(), []);
  const x = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 1);
  const y = tf.tensor1d([0, 3, 1], 'int32');
  const initial = model.getWeights().map((weight) => weight.clone());
  const reference = await autodiffGradients(model, x, y, 0);
  model.setWeights(initial);
  const before = tf.memory().numTensors;
  const lean = await leanGradients(model, x, y, 0);
  assert.equal(tf.memory().numTensors, before);
  assertSameGradients(reference, lean, 'families');
  tf.dispose([x, y, ...initial]);
  model.dispose();
});

// BatchNorm at batch statistics over few values per channel amplifies rounding (at 32 px and a batch of 2, ResNet-50's last
// stage normalizes over 2 values: the two computations then differ by 3e-5), so each runs where every channel sees 16 or more.
for (const [name, imageSize, batchSize] of [
  ['resnet50', 64, 4],
  ['resnet50v2', 64, 4],
  ['vgg16', 32, 2],
  ['inceptionv3', 75, 2],
  ['mobilenetv2', 64, 4],
] as const)
  test(`${name} from the registry runs on the lean pass alone, and its loss and gradients equal tfjs autodiff`, async () => {
    const { model } = await createModel(name, { classes: 3, imageSize, freeze: 'none', dropout: 0 });
    assert.deepEqual(new LeanBackward(model).autodiffLayers(), []);
    const x = tf.randomUniform([batchSize, imageSize, imageSize, 3], 0, 255, 'float32', 1);
    const y = tf.tensor1d(
      Array.from({ length: batchSize }, (_, i) => i % 3),
      'int32',
    );
    const initial = model.getWeights().map((weight) => weight.clone());
    const reference = await autodiffGradients(model, x, y, 0.1);
    model.setWeights(initial);
    const before = tf.memory().numTensors;
    const lean = await leanGradients(model, x, y, 0.1);
    assert.equal(tf.memory().numTensors, before);
    assertSameGradients(reference, lean, name);
    tf.dispose([x, y, ...initial]);
    model.dispose();
  });

test('a layer kind without a rule gets its gradients from tfjs autodiff, and the trainer says which', async () => {
  const model = familiesModel(tf.layers.layerNormalization({ axis: -1 }));
  assert.deepEqual(new LeanBackward(model).autodiffLayers(), ['LayerNormalization']);
  const x = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 2);
  const y = tf.tensor1d([2, 0, 1], 'int32');
  const initial = model.getWeights().map((weight) => weight.clone());
  const reference = await autodiffGradients(model, x, y, 0.1);
  model.setWeights(initial);
  assertSameGradients(reference, await leanGradients(model, x, y, 0.1), 'with an autodiff layer');
  const notices: Array<Record<string, unknown>> = [];
  new Trainer({ model, optimizer: { name: 'sgd', lr: 0.1 }, accumulate: 1, onNotice: (_text, fields) => notices.push(fields) }).dispose();
  assert.deepEqual(notices, [{ autodiffLayers: ['LayerNormalization'] }]);
  tf.dispose([x, y, ...initial]);
  model.dispose();
});

test('the loss and its gradient equal tfjs autodiff of the trainer loss, probabilities clipped at both ends, label smoothing on', () => {
  const probabilities = tf.tensor2d([
    [0.7, 0.2, 0.1, 0],
    [1e-9, 1 - 2e-9, 1e-9, 0],
    [0.25, 0.25, 0.25, 0.25],
  ]);
  const labels = tf.tensor1d([0, 0, 3], 'int32');
  const expected = tf.grad((p: tf.Tensor) => tf.mul(crossEntropy(p as tf.Tensor2D, labels, 0.2), 3))(probabilities);
  const { loss, gradient } = crossEntropyWithGradient(probabilities, labels, 0.2, 3);
  const reference = tf.tidy(() => tf.mul(crossEntropy(probabilities, labels, 0.2), 3));
  assert.ok(Math.abs(loss.dataSync()[0] - reference.dataSync()[0]) < 1e-6);
  const differences = tf.tidy(() => tf.max(tf.abs(tf.sub(expected, gradient))).dataSync()[0]);
  assert.ok(differences <= 1e-6 * tf.tidy(() => tf.max(tf.abs(expected)).dataSync()[0]), `differences ${differences}`);
  assert.equal(gradient.dataSync()[4], 0, 'no gradient where p is clipped');
  tf.dispose([probabilities, labels, expected, loss, gradient, reference]);
});

test("the dropout mask drawn on the host equals tf.dropout's multiplier bit for bit, seed for seed", async () => {
  for (const [shape, rate, seed] of [
    [[64, 1, 1, 1], 0.2, 7],
    [[3, 5, 5, 40], 0.5, 8],
    [[16, 1280], 0.3, 9],
    [[1000], 0.05, 10],
  ] as Array<[number[], number, number]>) {
    const reference = tf.dropout(tf.ones(shape), rate, undefined, seed);
    const mask = dropoutMask(shape, rate, seed);
    assert.deepEqual(mask.shape, shape);
    assert.deepEqual(await mask.data(), await reference.data(), `shape ${shape}, rate ${rate}`);
    tf.dispose([reference, mask]);
  }
  const unseeded = [dropoutMask([256], 0.5), dropoutMask([256], 0.5)];
  const [first, second] = await Promise.all(unseeded.map((mask) => mask.data()));
  assert.notDeepEqual(first, second, 'without a seed, every mask is drawn afresh');
  tf.dispose(unseeded);
});

test('a saved value taken as its recipe unrun counts one use: after the last, it and its recipe inputs are freed', async () => {
  const before = tf.memory().numTensors;
  const x = tf.ones([2, 3]);
  const input = SavedValue.kept('x', x);
  x.dispose();
  const recipe = {
    kind: 'doubling',
    layer: {} as unknown as Layer,
    inputs: [input],
    inputCount: 1,
    rebuild: ([t]: tf.Tensor[]) => tf.mul(t, 2),
  };
  const value = SavedValue.rebuilt('y', recipe);
  value.claim();
  value.claim();
  assert.equal(value.takeUnbuilt('another kind'), undefined, 'a recipe of another kind is not handed out');
  const unbuilt = value.takeUnbuilt('doubling')!;
  assert.equal(unbuilt.kind, 'doubling');
  const early = unbuilt.rebuild();
  assert.deepEqual(Array.from(await early.data()), [2, 2, 2, 2, 2, 2]);
  tf.dispose([early, ...unbuilt.inputs, ...unbuilt.extras]);
  const last = value.take();
  assert.deepEqual(Array.from(await last.data()), [2, 2, 2, 2, 2, 2]);
  last.dispose();
  assert.equal(tf.memory().numTensors, before, 'nothing is held after the last use');
});

test('micro-batch progress: a chunk that failed part-way is redone in smaller chunks that skip what it already added', () => {
  const [a, b, c] = [tf.variable(tf.scalar(0)), tf.variable(tf.scalar(0)), tf.variable(tf.scalar(0))];
  const progress = new MicroBatchProgress({}, 10);
  const first = progress.nextChunk(10);
  assert.deepEqual([first.start, first.end, first.skip.size], [0, 10, 0]);
  progress.failed(first, new Set([a]));
  const second = progress.nextChunk(4);
  assert.deepEqual([second.start, second.end, [...second.skip]], [0, 4, [a]]);
  progress.completed(second);
  const third = progress.nextChunk(4);
  progress.failed(third, new Set([b]));
  const fourth = progress.nextChunk(3);
  assert.deepEqual([fourth.start, fourth.end, new Set(fourth.skip)], [4, 7, new Set([a, b])]);
  progress.completed(fourth);
  const fifth = progress.nextChunk(3);
  assert.deepEqual([fifth.start, fifth.end, [...fifth.skip]], [7, 8, [a, b]], 'ends where the range b was added for ends');
  progress.completed(fifth);
  const sixth = progress.nextChunk(3);
  assert.deepEqual([sixth.start, sixth.end, [...sixth.skip]], [8, 10, [a]]);
  progress.completed(sixth);
  assert.equal(progress.finished, true);
  tf.dispose([a, b, c]);
});

/** Passes its input on; the first time it is rerun in a backward pass (its second call) it fails as a full device would. */
class FailsOnceInBackward extends tf.layers.Layer {
  static className = 'FailsOnceInBackward';
  calls = 0;

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    this.calls++;
    if (this.calls === 2) throw new Error('out of memory (injected in the backward pass)');
    return tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, 1);
  }
}

test('out of memory part-way through a backward pass: the retry adds every gradient once', async () => {
  // Frozen BatchNorm and no dropout, so that chunks of 4 add up to the batch of 8 exactly.
  const build = (extra?: tf.layers.Layer) => {
    const model = familiesModel(extra, 0);
    for (const layer of model.layers) if (layer.getClassName() === 'BatchNormalization') layer.trainable = false;
    return model;
  };
  const reference = build();
  const flaky = build(new FailsOnceInBackward({}));
  flaky.setWeights(reference.getWeights());
  const batch = syntheticBatch(8, 16, 4, 9);
  const referenceTrainer = new Trainer({ model: reference, optimizer: { name: 'sgd', lr: 0.5 }, accumulate: 1 });
  await referenceTrainer.step(batch);
  const events: BackoffEvent[] = [];
  const trainer = new Trainer({
    model: flaky,
    optimizer: { name: 'sgd', lr: 0.5 },
    accumulate: 1,
    onBackoff: (event) => events.push(event),
  });
  const before = tf.memory().numTensors;
  const result = await trainer.step(batch);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(
    events.map((event) => [event.microBatch, event.chunks, event.chunkSize]),
    [[8, 2, 4]],
  );
  assert.equal(result.applied, true);
  // The layers above the failure had added their gradients for all 8 samples before it: added twice, they would differ.
  const expected = reference.trainableWeights.map((weight) => weight.read().dataSync());
  const actual = flaky.trainableWeights.map((weight) => weight.read().dataSync() as Float32Array);
  assert.ok(relativeDifferences(expected as Float32Array[], actual).overall <= 1e-5);
  referenceTrainer.dispose();
  trainer.dispose();
  reference.dispose();
  flaky.dispose();
});

test('out of memory in a forward pass leaves no tensor behind, and the smaller chunks that follow succeed', async () => {
  const failing = new FailsOnceInBackward({});
  failing.calls = 1; // its next call, in the forward pass, fails
  const model = familiesModel(failing, 0);
  const trainer = new Trainer({ model, optimizer: { name: 'sgd', lr: 0.1 }, accumulate: 1 });
  const before = tf.memory().numTensors;
  const result = await trainer.step(syntheticBatch(4, 16, 4, 2));
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual([result.applied, result.samples, trainer.backoffs], [true, 4, 1]);
  trainer.dispose();
  model.dispose();
});

test('the tensor count is flat over 50 lean steps, recomputed, with dropout and everything trainable', async () => {
  const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 32, freeze: 'none' });
  const trainer = new Trainer({ model, optimizer: { name: 'adam', lr: 1e-3 }, accumulate: 2, recompute: true, labelSmoothing: 0.1 });
  const batch = syntheticBatch(2, 32, 3, 4);
  await trainer.step(batch);
  await trainer.step(batch);
  const afterFirst = tf.memory().numTensors;
  for (let step = 0; step < 50; step++) await trainer.step(batch);
  assert.equal(tf.memory().numTensors, afterFirst);
  assert.equal(trainer.optimizerStep, 26);
  trainer.dispose();
  model.dispose();
});

for (const [freeze, recompute] of [
  ['none', false],
  ['none', true],
  [{ trainTopBlocks: 8 }, false],
] as const)
  test(`the planner's activation estimate is within 15% of a measured lean step: B0 at 160 px, freeze ${JSON.stringify(freeze)}${recompute ? ', recomputed' : ''}`, async () => {
    const { model } = await createModel('efficientnet-b0', { classes: 10, imageSize: 160, freeze });
    const { x, y } = batchTensors(syntheticBatch(2, 160, 10, 5));
    const lean = new LeanBackward(model);
    const estimate = recompute ? estimateRecomputedMemory(lean.segmentGraphs()) : estimateGraphMemory(lean.graph());
    const run = () =>
      lean.step(x, y, { labelSmoothing: 0, lossScale: 2, recompute, deliver: (_variable, gradient) => gradient.dispose() }).dispose();
    run();
    const base = tf.memory().numBytes;
    const measured = (withPeakBytes(run).peakBytes - base) / 2;
    const ratio = measured / estimate.peakBytes;
    assert.ok(ratio > 0.85 && ratio < 1.15, `measured ${measured} bytes a sample, estimated ${estimate.peakBytes}`);
    tf.dispose([x, y]);
    model.dispose();
  });

test('a lean B0 step at 160 px peaks at under half the activation bytes of tfjs autodiff', async () => {
  const { model } = await createModel('efficientnet-b0', { classes: 10, imageSize: 160, freeze: 'none' });
  const batch = syntheticBatch(2, 160, 10, 6);
  const peakAbove = async (backward: 'lean' | 'autodiff') => {
    const trainer = new Trainer({
      model,
      optimizer: { name: 'sgd', lr: 0 },
      accumulate: 2,
      backward,
      memoryBudgetBytes: Number.MAX_SAFE_INTEGER,
    });
    const base = tf.memory().numBytes;
    await trainer.step(batch);
    const peak = trainer.lastPeakBytes - base;
    trainer.dispose();
    return peak;
  };
  const autodiff = await peakAbove('autodiff');
  const lean = await peakAbove('lean');
  assert.ok(lean < 0.5 * autodiff, `lean ${lean} bytes above the model, autodiff ${autodiff}`);
  model.dispose();
});

test("a pending gradient in a broadcast shape (global average pooling's [N, 1, 1, C]) expands to the value's shape, alone or summed", async () => {
  const pending = new PendingGradients();
  const small = tf.tensor4d([1, -2, 3, 0.5, 0, -1], [2, 1, 1, 3]);
  pending.add('top', small.clone());
  const alone = pending.take('top', [2, 4, 4, 3])!;
  assert.deepEqual(alone.shape, [2, 4, 4, 3]);
  assert.deepEqual(await alone.data(), await tf.broadcastTo(small, [2, 4, 4, 3]).data());
  const full = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 3);
  pending.add('top', small.clone());
  pending.add('top', full.clone());
  const summed = pending.take('top', [2, 4, 4, 3])!;
  assert.deepEqual(await summed.data(), await tf.add(full, small).data());
  tf.dispose([small, alone, full, summed]);
  pending.dispose();
});

test('share gives a second handle on the same data without a kernel: either can be disposed first, no bytes are copied', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await selectBackend(backend);
    const before = tf.memory();
    const original = tf.tensor([1, 2, 3, 4], [2, 2]);
    const handles = tf.engine().state.numTensors;
    const second = share(original);
    assert.equal(tf.engine().state.numTensors, handles + 1, `${backend}: one more handle`);
    assert.equal(tf.memory().numDataBuffers, before.numDataBuffers + 1, `${backend}: on the same data`);
    const profiled = await tf.profile(() => share(original));
    assert.deepEqual(profiled.kernelNames, [], `${backend}: no kernel runs`);
    (profiled.result as tf.Tensor).dispose();
    original.dispose();
    assert.deepEqual(Array.from(second.dataSync()), [1, 2, 3, 4], `${backend}: the second handle outlives the first`);
    const third = share(second);
    second.dispose();
    assert.deepEqual(third.shape, [2, 2]);
    assert.deepEqual(Array.from(third.dataSync()), [1, 2, 3, 4], backend);
    third.dispose();
    assert.equal(tf.memory().numTensors, before.numTensors, `${backend}: every handle released`);
    assert.equal(tf.memory().numDataBuffers, before.numDataBuffers, `${backend}: and the data freed`);
  }
});
