import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPipeline, resolveRunConfig } from '../src/config/run-config.ts';
import { ConfigError } from '../src/errors.ts';
import { Quarantine } from '../src/stream/quarantine.ts';
import { describe } from '../src/stream/stage.ts';
import { checkEvaluationChain } from '../src/train/run-pipeline.ts';
import { source } from '../stages/source.ts';
import { tempFolder } from './helpers/images.ts';
import { fixtureFolder } from './helpers/tiny-dataset.ts';

const root = join(import.meta.dirname, '..');
const context = () => ({ epoch: 0, quarantine: new Quarantine() });

test('every ready pipeline resolves, evaluates with the preprocessing its models store, and reads like the diagram', async () => {
  const dataset = await source(fixtureFolder);
  for (const name of ['default', 'sweep', 'efficientnet-b7-8gb']) {
    const pipeline = await loadPipeline(join(root, 'pipelines', `${name}.ts`));
    const config = resolveRunConfig(pipeline, { data: fixtureFolder });
    checkEvaluationChain(pipeline, dataset, config);
    const train = describe(pipeline.train(dataset, config, context()));
    assert.deepEqual(
      train.split('\n').map((line) => line.split(/\s+/)[0]),
      ['source', 'split', 'shuffle', 'decode', 'resize', 'augment', 'render', 'normalize', 'fp16Cast', 'batch', 'prefetch'],
      name,
    );
    if (name === 'efficientnet-b7-8gb') {
      assert.equal(config.batchSize, 32);
      assert.equal(config.imageSize, 600);
      assert.match(train, /shuffle +bufferSize=10000/);
      assert.match(train, /augment +seed=0 crop=\{"scale":\[0\.08,1\]/);
    }
  }
});

test('an old pipeline with validate, or with accumulate, is refused naming what replaces it', async () => {
  const { writeFileSync, rmSync } = await import('node:fs');
  const folder = tempFolder(); // a pipeline file may live anywhere
  const write = (name: string, body: string) => {
    const file = join(folder, name);
    writeFileSync(file, body);
    return file;
  };
  const withValidate = write('validate.ts', `export const pipeline = { config: {}, train: () => {}, validate: () => {} };\n`);
  await assert.rejects(
    loadPipeline(withValidate),
    (error: unknown) => error instanceof ConfigError && /`validate` is now `evaluate/.test(error.message),
  );
  const withAccumulate = write(
    'accumulate.ts',
    `import { pipeline as base } from ${JSON.stringify(join(root, 'pipelines', 'default.ts'))};\nexport const pipeline = { ...base, config: { ...base.config, microBatch: 8, accumulate: 4 } };\n`,
  );
  assert.throws(() => resolveRunConfig(undefined as never, {}), TypeError);
  const pipeline = await loadPipeline(withAccumulate);
  assert.throws(
    () => resolveRunConfig(pipeline, {}),
    (error: unknown) => error instanceof ConfigError && error.field === 'accumulate' && /batchSize/.test(error.message),
  );
  rmSync(folder, { recursive: true, force: true });
});
