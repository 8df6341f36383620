import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import type * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { createModel } from '../src/models/create-model.ts';
import { importKerasWeights } from '../src/models/keras-import.ts';
import { findModel } from '../src/models/registry.ts';
import { tempFolder } from './helpers/images.ts';
import { writeKerasH5 } from './helpers/keras-h5.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'bin', 'streamfit.js');

await selectBackend('cpu');

const folder = tempFolder();
after(() => rmSync(folder, { recursive: true, force: true }));

/** Every weight of `model` equals the weight of the same name in `original`. */
function assertSameWeights(model: tf.LayersModel, original: tf.LayersModel, label: string): void {
  const expected = new Map(original.weights.map((weight) => [weight.originalName, weight.read().dataSync()]));
  let compared = 0;
  for (const weight of model.weights) {
    const values = expected.get(weight.originalName);
    if (!values) continue; // the new head
    assert.deepEqual(weight.read().dataSync(), values, `${label}: ${weight.originalName}`);
    compared++;
  }
  assert.equal(compared, original.weights.length, `${label}: every weight of the file's model was compared`);
}

// Weights do not depend on the input size (VGG's fully connected top aside), so small builds stand in for the real ones.
for (const [name, size] of [
  ['resnet50', 32],
  ['vgg16', 32],
  ['mobilenetv2', 32],
] as const) {
  test(`a Keras .h5 of ${name} imports by layer name and loads into the classifier as its backbone`, async () => {
    const original = findModel(name)!.build({ imageSize: size });
    const file = join(folder, `${name}_notop.h5`);
    await writeKerasH5(original, file);
    const result = await importKerasWeights(file, name, join(folder, name));
    assert.deepEqual([result.model, result.includeTop, result.renumberedLayers], [name, false, 0]);
    const { model } = await createModel(name, { classes: 3, imageSize: size, weights: join(folder, name), freeze: 'all' });
    assertSameWeights(model, original, name);
    model.dispose();
    original.dispose();
    rmSync(file);
  });
}

test("InceptionV3 weights numbered by an older Keras session (conv2d_1 …) match by Keras' order of creation", async () => {
  const original = findModel('inceptionv3')!.build({ imageSize: 75 });
  // Keras 2.0, which saved the published file, numbered unnamed layers from 1: conv2d → conv2d_1, conv2d_5 → conv2d_6.
  const shifted = (layer: string) => {
    const match = /^(conv2d|batch_normalization)(?:_(\d+))?$/.exec(layer);
    return match ? `${match[1]}_${Number(match[2] ?? 0) + 1}` : layer;
  };
  const file = join(folder, 'inception_v3_notop.h5');
  await writeKerasH5(original, file, { layerName: shifted });
  const { stdout } = await run(process.execPath, [
    cli,
    'weights',
    'import',
    file,
    '--model',
    'inceptionv3',
    '--out',
    join(folder, 'inception'),
    '--json',
  ]);
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  assert.equal(result.renumberedLayers, 2 * 94, 'every convolution and BatchNorm');
  const { model } = await createModel('inceptionv3', { classes: 3, imageSize: 75, weights: join(folder, 'inception') });
  assertSameWeights(model, original, 'inceptionv3');
  model.dispose();
  original.dispose();
});

test('a file with the ImageNet top imports with it, and a file of another model is refused naming the first layer', async () => {
  const withTop = findModel('mobilenetv2')!.build({ includeTop: true, classes: 1000 });
  const file = join(folder, 'mobilenet_v2_1.0_224.h5');
  await writeKerasH5(withTop, file);
  const result = await importKerasWeights(file, 'mobilenetv2', join(folder, 'mobilenet-top'));
  assert.equal(result.includeTop, true);
  assert.equal(result.weights, withTop.weights.length);
  withTop.dispose();
  await assert.rejects(
    importKerasWeights(file, 'resnet50', join(folder, 'wrong')),
    /layer 'conv1_conv': weight 'conv1_conv\/kernel' \[7, 7, 3, 64\] is not in the file/,
  );
  await assert.rejects(
    importKerasWeights(file, 'resnet51', join(folder, 'wrong')),
    /--model: expected one of efficientnet-b0, .*, mobilenetv2, got 'resnet51'/,
  );
});
