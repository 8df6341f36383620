import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { ConfigError, DataError, FlagError } from '../src/errors.ts';
import { createModel } from '../src/models/create-model.ts';
import { buildEfficientNet } from '../src/models/efficientnet.ts';
import { FineTuneBatchNormalization, LeanActivation } from '../src/models/layers.ts';
import { efficientNetVariants, findVariant, roundFilters } from '../src/models/variants.ts';
import { loadModel, loadWeightsByName, saveModel } from '../src/models/weights-io.ts';
import { tempFolder } from './helpers/images.ts';

await selectBackend('cpu');

// Keras applications' EfficientNetB0…B7 with the 1000-class top: model.count_params().
const kerasParams: Record<string, number> = {
  'efficientnet-b0': 5_330_571,
  'efficientnet-b1': 7_856_239,
  'efficientnet-b2': 9_177_569,
  'efficientnet-b3': 12_320_535,
  'efficientnet-b4': 19_466_823,
  'efficientnet-b5': 30_562_527,
  'efficientnet-b6': 43_265_143,
  'efficientnet-b7': 66_658_687,
};

test('every variant has the parameter count of Keras with a 1000-class head', () => {
  for (const variant of efficientNetVariants) {
    const model = buildEfficientNet(variant, { imageSize: 64, includeTop: true });
    assert.equal(model.countParams(), kerasParams[variant.name], variant.name);
    model.dispose();
  }
});

test('layer names follow Keras applications', () => {
  const model = buildEfficientNet(findVariant('efficientnet-b7')!, { imageSize: 64 });
  const names = new Set(model.layers.map((layer) => layer.name));
  for (const name of ['stem_conv', 'block1a_dwconv', 'block6d_se_excite', 'block7d_project_bn', 'top_conv', 'top_activation'])
    assert.ok(names.has(name), name);
  assert.equal(roundFilters(1280, 2.0), 2560);
  model.dispose();
});

test('runs forward at small input sizes with the right output shape', () => {
  for (const [name, size] of [
    ['efficientnet-b0', 64],
    ['efficientnet-b1', 96],
    ['efficientnet-b3', 65],
  ] as const) {
    const model = buildEfficientNet(findVariant(name)!, { imageSize: size, includeTop: true, classes: 5 });
    const output = tf.tidy(() => model.predict(tf.randomUniform([2, size, size, 3], 0, 255)) as tf.Tensor);
    assert.deepEqual(output.shape, [2, 5], name);
    const sums = tf.tidy(() => output.sum(1).arraySync() as number[]);
    sums.forEach((sum) => assert.ok(Math.abs(sum - 1) < 1e-4));
    output.dispose();
    model.dispose();
  }
});

test('save then load gives identical outputs', async () => {
  const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 64 });
  const folder = tempFolder();
  await saveModel(model, folder);
  const loaded = await loadModel(folder);
  const input = tf.randomUniform([2, 64, 64, 3], 0, 255);
  const [a, b] = [model.predict(input) as tf.Tensor, loaded.predict(input) as tf.Tensor];
  assert.deepEqual(await a.data(), await b.data());
  tf.dispose([input, a, b]);
  model.dispose();
  loaded.dispose();
});

test('loading weights of another shape names the first mismatching layer and its shapes', async () => {
  const folder = tempFolder();
  const b0 = buildEfficientNet(findVariant('efficientnet-b0')!, { imageSize: 64 });
  await saveModel(b0, folder);
  const b4 = buildEfficientNet(findVariant('efficientnet-b4')!, { imageSize: 64 });
  assert.throws(
    () => loadWeightsByName(b4, folder),
    (error: unknown) =>
      error instanceof DataError &&
      error.file === join(folder, 'model.json') &&
      error.reason === "layer 'stem_conv': weight 'stem_conv/kernel' has shape [3, 3, 3, 32] in the file, the model expects [3, 3, 3, 48]",
  );
  const b0Again = buildEfficientNet(findVariant('efficientnet-b0')!, { imageSize: 64 });
  loadWeightsByName(b0Again, folder);
  const same = tf.tidy(
    () => tf.sub(b0Again.getLayer('top_conv').getWeights()[0], b0.getLayer('top_conv').getWeights()[0]).abs().max().dataSync()[0],
  );
  assert.equal(same, 0);
  [b0, b4, b0Again].forEach((model) => model.dispose());
});

test('a weights file missing a layer is refused by name', async () => {
  const folder = tempFolder();
  const small = tf.sequential({
    layers: [tf.layers.conv2d({ filters: 32, kernelSize: 3, inputShape: [8, 8, 3], useBias: false, name: 'stem_conv' })],
  });
  await saveModel(small, folder);
  const b0 = buildEfficientNet(findVariant('efficientnet-b0')!, { imageSize: 64 });
  assert.throws(() => loadWeightsByName(b0, folder), /layer 'normalization': weight 'normalization\/mean' \[3\] is not in the file/);
  b0.dispose();
});

test('freezing trains the head only, or the top k blocks too, with BatchNorm always frozen', async () => {
  const headOnly = await createModel('efficientnet-b0', { classes: 4, imageSize: 64, freeze: 'all' });
  assert.deepEqual(headOnly.model.trainableWeights.map((w) => w.originalName).sort(), ['predictions/bias', 'predictions/kernel']);
  const top2 = await createModel('efficientnet-b0', { classes: 4, imageSize: 64, freeze: { trainTopBlocks: 2 } });
  const names = top2.model.trainableWeights.map((w) => w.originalName);
  assert.ok(names.includes('block7a_dwconv/depthwise_kernel'));
  assert.ok(names.includes('block6d_project_conv/kernel'));
  assert.ok(names.includes('top_conv/kernel'));
  assert.ok(!names.some((name) => name.startsWith('block6c')));
  assert.ok(!names.some((name) => /_bn\/|\/gamma/.test(name)), 'no BatchNorm weight trains');
  const all = await createModel('efficientnet-b0', { classes: 4, imageSize: 64, freeze: 'none' });
  assert.equal(all.model.trainableWeights.length, all.model.weights.filter((w) => w.trainable).length);
  assert.ok(all.model.trainableWeights.some((w) => w.originalName === 'stem_bn/gamma'));
  [headOnly, top2, all].forEach(({ model }) => model.dispose());
});

test('a frozen BatchNormalization runs in inference mode even when training', () => {
  const layer = new FineTuneBatchNormalization({ name: 'bn_test' });
  const input = tf.randomNormal([4, 3], 5, 2);
  layer.apply(input);
  layer.trainable = false;
  const before = layer.getWeights()[2].dataSync().slice();
  const frozenOut = layer.apply(input, { training: true }) as tf.Tensor;
  assert.deepEqual(layer.getWeights()[2].dataSync(), before, 'moving mean unchanged');
  const inference = layer.apply(input, { training: false }) as tf.Tensor;
  assert.deepEqual(frozenOut.dataSync(), inference.dataSync());
  layer.trainable = true;
  layer.apply(input, { training: true });
  assert.notDeepEqual(layer.getWeights()[2].dataSync(), before, 'a trainable one updates its statistics');
  tf.dispose([input, frozenOut, inference]);
});

test("lean BatchNorm and swish give tfjs' own outputs, gradients and moving statistics, keeping far fewer bytes", async () => {
  const input = tf.randomNormal([4, 10, 10, 16], 2, 3, 'float32', 1);
  const weight = tf.randomNormal([4, 10, 10, 16], 0, 1, 'float32', 2);
  const run = async (lean: boolean) => {
    const norm = lean ? new FineTuneBatchNormalization({}) : tf.layers.batchNormalization({});
    const swish = lean ? new LeanActivation({ activation: 'swish' }) : tf.layers.activation({ activation: 'swish' });
    norm.apply(input); // builds it
    norm.setWeights([tf.linspace(0.5, 2, 16), tf.linspace(-1, 1, 16), tf.zeros([16]), tf.ones([16])]);
    const xs = [input, ...norm.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)];
    const loss = () => tf.sum(tf.mul(swish.apply(norm.apply(input, { training: true }) as tf.Tensor) as tf.Tensor, weight)) as tf.Scalar;
    const { value, grads } = tf.engine().gradients(loss, xs);
    const moving = norm
      .getWeights()
      .slice(2)
      .map((tensor) => tensor.clone());
    const bytesBefore = tf.memory().numBytes;
    const profile = await tf.profile(() => {
      const again = tf.engine().gradients(loss, xs);
      tf.dispose([again.value, ...again.grads]);
      return tf.scalar(0);
    });
    tf.dispose(profile.result as tf.Tensor);
    return { results: [value, ...grads], moving, peakBytes: profile.peakBytes - bytesBefore };
  };
  const stock = await run(false);
  const lean = await run(true);
  stock.results.forEach((tensor, i) => {
    const difference = tf.max(tf.abs(tf.sub(tensor, lean.results[i]))).dataSync()[0];
    const scale = tf.max(tf.abs(tensor)).dataSync()[0];
    assert.ok(difference <= 1e-5 * Math.max(1, scale), `${['loss', 'dx', 'dgamma', 'dbeta'][i]} differs by ${difference}`);
  });
  stock.moving.forEach((tensor, i) =>
    assert.ok(tf.max(tf.abs(tf.sub(tensor, lean.moving[i]))).dataSync()[0] < 1e-6, `moving ${['mean', 'variance'][i]}`),
  );
  assert.ok(lean.peakBytes < 0.6 * stock.peakBytes, `peak ${lean.peakBytes} bytes lean, ${stock.peakBytes} stock`);
  tf.dispose([input, weight, ...stock.results, ...lean.results, ...stock.moving, ...lean.moving]);
});

test('any tfjs layers model from disk can be the backbone, cut at a named layer', async () => {
  const folder = tempFolder();
  const other = tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 8, kernelSize: 3, inputShape: [32, 32, 3], name: 'conv1', activation: 'relu' }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, name: 'conv2', activation: 'relu' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ units: 10, name: 'old_head' }),
    ],
  });
  await saveModel(other, folder);
  const { model, blocks } = await createModel(`file:${folder}`, { classes: 3, cutAt: 'conv2', freeze: 'all' });
  const output = model.predict(tf.zeros([2, 32, 32, 3])) as tf.Tensor;
  assert.deepEqual(output.shape, [2, 3]);
  assert.deepEqual(blocks, ['conv1', 'bn1', 'conv2']);
  assert.deepEqual(model.trainableWeights.map((w) => w.originalName).sort(), ['predictions/bias', 'predictions/kernel']);
  await assert.rejects(
    createModel(`file:${folder}`, { classes: 3, cutAt: 'conv9' }),
    (error: unknown) => error instanceof ConfigError && /no layer named 'conv9'/.test(error.message),
  );
  output.dispose();
});

test('backend selection: cpu and wasm start, a missing one says how to install it', async () => {
  const wasm = await selectBackend('wasm');
  assert.equal(wasm.tfjsBackend, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.ok(wasm.threads >= 1);
  // tfjs-node-gpu is an optional peer: where it is missing the error says how to install it; where it is installed it
  // starts, or says why not (no CUDA), still naming how to install it. Either way the ladder's wasm is back afterwards.
  if (!isInstalled('@tensorflow/tfjs-node-gpu')) {
    await assert.rejects(
      selectBackend('tfjs-node-gpu'),
      (error: unknown) => error instanceof FlagError && /npm install @tensorflow\/tfjs-node-gpu@4\.22\.0.*CUDA/.test(error.message),
    );
  } else {
    const gpu = await selectBackend('tfjs-node-gpu').catch((error: unknown) => error);
    if (gpu instanceof Error)
      assert.ok(gpu instanceof FlagError && /backend 'tfjs-node-gpu' is not available \(/.test(gpu.message), String(gpu));
    else assert.equal((gpu as { name: string }).name, 'tfjs-node-gpu');
  }
  await assert.rejects(selectBackend('tpu'), /unknown backend 'tpu'/);
  const cpu = await selectBackend('cpu');
  assert.equal(cpu.name, 'cpu');
});

/** Whether a package resolves from here (optional peers may or may not be installed on the machine running the tests). */
function isInstalled(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}

test('an unknown model name is refused, naming the choices', async () => {
  await assert.rejects(createModel('efficientnet-b9', { classes: 2 }), /unknown model 'efficientnet-b9' \(expected one of efficientnet-b0/);
});
