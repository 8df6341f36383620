import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { ConfigError } from '../src/errors.ts';
import { runSegment, segmentModel } from '../src/memory/segments.ts';
import { createModel } from '../src/models/create-model.ts';
import { describeModels, findModel, registeredModels } from '../src/models/registry.ts';
import { loadModel, saveModel } from '../src/models/weights-io.ts';
import { tempFolder } from './helpers/images.ts';

await selectBackend('cpu');

const folders: string[] = [];
after(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

// Keras applications with the 1000-class top: model.count_params().
const kerasParams: Record<string, number> = {
  resnet50: 25_636_712,
  resnet101: 44_707_176,
  resnet152: 60_419_944,
  resnet50v2: 25_613_800,
  vgg16: 138_357_544,
  vgg19: 143_667_240,
  inceptionv3: 23_851_784,
  mobilenetv2: 3_538_984,
};

// The last feature map at the native resolution (Keras' include_top=False output).
const featureShapes: Record<string, number[]> = {
  resnet50: [7, 7, 2048],
  resnet101: [7, 7, 2048],
  resnet152: [7, 7, 2048],
  resnet50v2: [7, 7, 2048],
  vgg16: [7, 7, 512],
  vgg19: [7, 7, 512],
  inceptionv3: [8, 8, 2048],
  mobilenetv2: [7, 7, 1280],
};

test('models lists every model with its family, resolution and Keras parameter count; the feature maps have Keras shapes', () => {
  const described = describeModels();
  assert.deepEqual(
    described.map((entry) => entry.name),
    registeredModels.map((definition) => definition.name),
  );
  for (const entry of described) {
    for (const field of ['name', 'family', 'resolution', 'params', 'dropout', 'preprocessing', 'blocks'])
      assert.ok(field in entry, `${entry.name}: ${field}`);
    if (entry.family === 'efficientnet') assert.ok('widthCoefficient' in entry && 'depthCoefficient' in entry, entry.name);
    if (kerasParams[entry.name]) assert.equal(entry.params, kerasParams[entry.name], entry.name);
  }
  assert.equal(described.find((entry) => entry.name === 'efficientnet-b7')!.params, 66_658_687);
  assert.deepEqual(
    described.map((entry) => entry.family),
    [...Array(8).fill('efficientnet'), 'resnet', 'resnet', 'resnet', 'resnet', 'vgg', 'vgg', 'inception', 'mobilenet'],
  );
  // Built, not run: the last feature map at the native resolution (Keras' include_top=False output).
  for (const [name, shape] of Object.entries(featureShapes)) {
    const features = findModel(name)!.build();
    assert.deepEqual(features.outputs[0].shape, [null, ...shape], name);
    features.dispose();
  }
});

test("layer names follow Keras applications, InceptionV3's unnamed layers numbered in Keras' order of creation", () => {
  const expected: Record<string, string[]> = {
    resnet50: ['conv1_pad', 'conv1_conv', 'conv1_bn', 'pool1_pool', 'conv2_block1_0_conv', 'conv4_block6_3_bn', 'conv5_block3_out'],
    resnet50v2: ['conv2_block1_preact_bn', 'conv2_block3_2_pad', 'max_pooling2d_2', 'conv5_block3_out', 'post_bn', 'post_relu'],
    vgg19: ['block1_conv1', 'block3_conv4', 'block5_pool'],
    inceptionv3: [
      'conv2d',
      'batch_normalization',
      'activation_93',
      'conv2d_93',
      'max_pooling2d_3',
      'average_pooling2d_8',
      'mixed9_1',
      'concatenate_1',
      'mixed10',
    ],
    mobilenetv2: [
      'Conv1',
      'bn_Conv1',
      'Conv1_relu',
      'expanded_conv_depthwise_BN',
      'block_1_pad',
      'block_16_project_BN',
      'Conv_1_bn',
      'out_relu',
    ],
  };
  for (const [name, layers] of Object.entries(expected)) {
    const model = findModel(name)!.build({ imageSize: name === 'inceptionv3' ? 75 : 32 });
    const names = new Set(model.layers.map((layer) => layer.name));
    for (const layer of layers) assert.ok(names.has(layer), `${name}: ${layer}`);
    model.dispose();
  }
  const inception = findModel('inceptionv3')!.build({ imageSize: 75 });
  assert.equal(inception.layers.filter((layer) => layer.getClassName() === 'Conv2D').length, 94);
  assert.equal(inception.getLayer('conv2d_93').getWeights()[0].shape.join('x'), '1x1x2048x192', 'the last is mixed10’s pool branch');
  assert.equal(inception.getLayer('batch_normalization').weights.length, 3, 'scale=False: beta, moving mean and variance');
  inception.dispose();
  const v2 = findModel('resnet50v2')!.build({ imageSize: 32 });
  assert.equal(v2.getLayer('conv2_block1_1_conv').getWeights().length, 1, 'v2 inner convolutions have no bias');
  v2.dispose();
});

test('the small members of each family run forward at small inputs and give probabilities', () => {
  for (const [name, size] of [
    ['resnet50', 32],
    ['resnet50v2', 33],
    ['vgg16', 32],
    ['inceptionv3', 75],
    ['mobilenetv2', 35],
  ] as const) {
    const model = findModel(name)!.build({ imageSize: size, includeTop: true, classes: 5 });
    const output = tf.tidy(() => model.predict(tf.randomUniform([2, size, size, 3], 0, 255, 'float32', 7)) as tf.Tensor);
    assert.deepEqual(output.shape, [2, 5], name);
    const sums = tf.tidy(() => Array.from(output.sum(1).dataSync()));
    sums.forEach((sum) => assert.ok(Math.abs(sum - 1) < 1e-4, `${name}: ${sum}`));
    output.dispose();
    model.dispose();
  }
});

test("each family preprocesses raw RGB inside the model as Keras' preprocess_input does", () => {
  const pixel = tf.tensor4d([10, 20, 30, 255, 0, 128], [1, 1, 2, 3]);
  const firstLayerOutput = (name: string) => {
    const model = findModel(name)!.build({ imageSize: name === 'inceptionv3' ? 75 : 32 });
    const layer = model.layers[1];
    const output = Array.from((layer.apply(pixel) as tf.Tensor).dataSync());
    model.dispose();
    return { name: layer.name, output };
  };
  const close = (actual: number[], expected: number[]) =>
    actual.forEach((value, i) => assert.ok(Math.abs(value - expected[i]) < 1e-4, `${i}: ${value}`));
  // caffe: RGB → BGR, minus the ImageNet mean [103.939, 116.779, 123.68]
  const caffe = [30 - 103.939, 20 - 116.779, 10 - 123.68, 128 - 103.939, 0 - 116.779, 255 - 123.68];
  for (const name of ['resnet50', 'resnet152', 'vgg16']) {
    const { name: layer, output } = firstLayerOutput(name);
    assert.equal(layer, 'caffe_preprocessing', name);
    close(output, caffe);
  }
  // tf: x / 127.5 − 1
  for (const name of ['resnet50v2', 'inceptionv3', 'mobilenetv2']) {
    const { name: layer, output } = firstLayerOutput(name);
    assert.equal(layer, 'rescaling', name);
    close(
      output,
      [10, 20, 30, 255, 0, 128].map((value) => value / 127.5 - 1),
    );
  }
  pixel.dispose();
});

test('an input too small for the network is refused, naming the model and its minimum', async () => {
  await assert.rejects(
    createModel('inceptionv3', { classes: 2, imageSize: 64 }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.field === 'imageSize' &&
      /inceptionv3 takes inputs of at least 75 px, got 64/.test(error.message),
  );
});

test('segments are the blocks of every model: stem, each block in order, head, each fed by the one before', async () => {
  for (const definition of registeredModels.filter((d) => d.family !== 'efficientnet' || d.name === 'efficientnet-b0')) {
    const size = definition.minResolution;
    const { model, blocks } = await createModel(definition.name, { classes: 3, imageSize: size });
    const segments = segmentModel(model);
    assert.deepEqual(
      segments.map((segment) => segment.name),
      ['stem', ...blocks, 'head'],
      definition.name,
    );
    assert.equal(
      segments.reduce((count, segment) => count + segment.layers.length, 0),
      model.layers.length - 1,
    );
    segments.slice(1).forEach((segment, i) => assert.equal(segment.inputName, segments[i].outputName));
    if (['resnet50v2', 'inceptionv3', 'mobilenetv2'].includes(definition.name)) {
      // Running segment by segment is running the model (unnamed layers inside blocks land in the right one).
      const input = tf.randomUniform([1, size, size, 3], 0, 255, 'float32', 3);
      const whole = model.predict(input) as tf.Tensor;
      const bySegments = segments.reduce<tf.Tensor>((x, segment) => runSegment(segment, x, false), input);
      assert.ok(tf.max(tf.abs(tf.sub(whole, bySegments))).dataSync()[0] < 1e-6, definition.name);
      tf.dispose([input, whole, bySegments]);
    }
    model.dispose();
  }
});

test('freezing opens the top k blocks of each family (and what lies between them and the head), never BatchNorm', async () => {
  const trainable = async (name: string, size: number, k: number) => {
    const { model } = await createModel(name, { classes: 4, imageSize: size, freeze: { trainTopBlocks: k } });
    const names = model.trainableWeights.map((weight) => weight.originalName);
    model.dispose();
    return names;
  };
  const resnet = await trainable('resnet50', 32, 2);
  assert.ok(resnet.includes('conv5_block3_3_conv/kernel') && resnet.includes('conv5_block2_1_conv/bias'));
  assert.ok(!resnet.some((name) => name.startsWith('conv5_block1_')));
  assert.ok(!resnet.some((name) => /_bn\//.test(name)), 'no BatchNorm weight trains');
  const vgg = await trainable('vgg16', 32, 1);
  assert.deepEqual(vgg.filter((name) => name.endsWith('kernel')).sort(), [
    'block5_conv1/kernel',
    'block5_conv2/kernel',
    'block5_conv3/kernel',
    'predictions/kernel',
  ]);
  const inception = await trainable('inceptionv3', 75, 1);
  // mixed10 holds the last nine convolutions (conv2d_85 … conv2d_93)
  assert.deepEqual(inception.filter((name) => name.startsWith('conv2d')).length, 9);
  assert.ok(inception.includes('conv2d_85/kernel') && !inception.includes('conv2d_84/kernel'));
  const mobilenet = await trainable('mobilenetv2', 32, 1);
  assert.deepEqual(mobilenet.sort(), [
    'Conv_1/kernel',
    'block_16_depthwise/depthwise_kernel',
    'block_16_expand/kernel',
    'block_16_project/kernel',
    'predictions/bias',
    'predictions/kernel',
  ]);
  const headOnly = await createModel('resnet50v2', { classes: 4, imageSize: 32, freeze: 'all' });
  assert.deepEqual(headOnly.model.trainableWeights.map((w) => w.originalName).sort(), ['predictions/bias', 'predictions/kernel']);
  headOnly.model.dispose();
});

test('a saved ResNet (caffe preprocessing) and MobileNetV2 load back with identical outputs', async () => {
  for (const name of ['resnet50', 'mobilenetv2']) {
    const { model } = await createModel(name, { classes: 3, imageSize: 32 });
    const folder = tempFolder();
    folders.push(folder);
    await saveModel(model, folder);
    const loaded = await loadModel(folder);
    const input = tf.randomUniform([2, 32, 32, 3], 0, 255, 'float32', 5);
    const [a, b] = [model.predict(input) as tf.Tensor, loaded.predict(input) as tf.Tensor];
    assert.deepEqual(a.dataSync(), b.dataSync(), name);
    tf.dispose([input, a, b]);
    model.dispose();
    loaded.dispose();
  }
});
