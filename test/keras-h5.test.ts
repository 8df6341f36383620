import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { selectBackend } from '../src/backend/ladder.ts';
import { buildEfficientNet } from '../src/models/efficientnet.ts';
import { findVariant } from '../src/models/variants.ts';
import { loadWeightsByName } from '../src/models/weights-io.ts';
import { tempFolder } from './helpers/images.ts';
import { writeKerasH5 } from './helpers/keras-h5.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'bin', 'streamfit.js');

await selectBackend('cpu');

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
