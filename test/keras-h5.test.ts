import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { selectBackend } from '../src/backend/ladder.ts';
import { buildEfficientNet } from '../src/models/efficientnet.ts';
import { findVariant } from '../src/models/variants.ts';
import { loadWeightsByName } from '../src/models/weights-io.ts';
import { tempFolder } from './helpers/images.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'bin', 'streamfit.js');

await selectBackend('cpu');

/** Writes a model's weights the way Keras' save_weights lays them out in HDF5 (normalization variance as Keras ≥ 2.10 does). */
async function writeKerasH5(model: tf.LayersModel, file: string): Promise<void> {
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'w');
  const layers = model.layers.filter((layer) => layer.weights.length > 0);
  h5.create_attribute(
    'layer_names',
    layers.map((layer) => layer.name),
  );
  h5.create_attribute('backend', 'tensorflow');
  h5.create_attribute('keras_version', '2.13.1');
  for (const layer of layers) {
    const group = h5.create_group(layer.name);
    group.create_attribute(
      'weight_names',
      layer.weights.map((weight) => `${weight.originalName}:0`),
    );
    const inner = group.create_group(layer.name);
    for (const weight of layer.weights) {
      let values = weight.read().dataSync() as Float32Array;
      if (weight.originalName === 'normalization/variance') values = Float32Array.from(values, Math.sqrt);
      inner.create_dataset({
        name: `${weight.originalName.split('/').pop()}:0`,
        data: Float32Array.from(values),
        shape: weight.shape as number[],
        dtype: '<f',
      });
    }
  }
  h5.close();
}

test('weights import reads a Keras .h5 file into the same model, squaring a standard-deviation normalization', async () => {
  const folder = tempFolder();
  const original = buildEfficientNet(findVariant('efficientnet-b0')!, { imageSize: 64 });
  await writeKerasH5(original, join(folder, 'b0_notop.h5'));
  const { stdout } = await run(process.execPath, [
    cli,
    'weights',
    'import',
    join(folder, 'b0_notop.h5'),
    '--model',
    'efficientnet-b0',
    '--out',
    join(folder, 'b0-tfjs'),
    '--json',
  ]);
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  assert.equal(result.squaredNormalization, true);
  assert.equal(result.includeTop, false);

  const imported = buildEfficientNet(findVariant('efficientnet-b0')!, { imageSize: 64 });
  loadWeightsByName(imported, join(folder, 'b0-tfjs'));
  const expected = original.weights.map((weight) => weight.read().dataSync());
  imported.weights.forEach((weight, i) => {
    const values = weight.read().dataSync();
    values.forEach((value, j) =>
      assert.ok(Math.abs(value - expected[i][j]) <= 1e-6 * Math.max(1, Math.abs(expected[i][j])), `${weight.originalName}[${j}]`),
    );
  });
  original.dispose();
  imported.dispose();
});

test('weights import names the first layer that does not fit, and refuses files that are not Keras weights', async () => {
  const folder = tempFolder();
  const b0 = buildEfficientNet(findVariant('efficientnet-b0')!, { imageSize: 64 });
  await writeKerasH5(b0, join(folder, 'b0.h5'));
  b0.dispose();
  await assert.rejects(
    run(process.execPath, [cli, 'weights', 'import', join(folder, 'b0.h5'), '--model', 'efficientnet-b4', '--out', join(folder, 'x')]),
    /layer 'stem_conv': weight 'stem_conv\/kernel' has shape \[3, 3, 3, 32\] in the file, the model expects \[3, 3, 3, 48\]/,
  );
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(folder, 'text.h5'), 'not hdf5');
  await assert.rejects(
    run(process.execPath, [cli, 'weights', 'import', join(folder, 'text.h5'), '--model', 'efficientnet-b0', '--out', join(folder, 'y')]),
    /text\.h5: not an HDF5 file \(no HDF5 signature\)/,
  );
});
