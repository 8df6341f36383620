import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { selectBackend } from '../src/backend/ladder.ts';
import { findModel } from '../src/models/registry.ts';
import { loadModel, saveModel } from '../src/models/weights-io.ts';
import { tempFolder } from './helpers/images.ts';
import { tinyDataset } from './helpers/tiny-dataset.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'bin', 'streamfit.js');
const work = tempFolder();
const data = tinyDataset(6);
after(() => [work, data].forEach((folder) => rmSync(folder, { recursive: true, force: true })));

/** A mobilenetv2 backbone saved as --weights expects it: stands in for imported ImageNet weights (nothing can be downloaded). */
let mobileNetWeights: Promise<string> | undefined;
function savedMobileNet(): Promise<string> {
  mobileNetWeights ??= (async () => {
    await selectBackend('cpu');
    const folder = join(work, 'mobilenet-weights');
    const backbone = findModel('mobilenetv2')!.build({ imageSize: 64 });
    await saveModel(backbone, folder);
    backbone.dispose();
    return folder;
  })();
  return mobileNetWeights;
}

async function streamfit(args: string[]): Promise<{ result: Record<string, unknown>; stderr: string }> {
  const { stdout, stderr } = await run(process.execPath, [cli, ...args, '--backend', 'wasm', '--json'], { maxBuffer: 2 ** 24 });
  return { result: JSON.parse(stdout.trim().split('\n').pop()!), stderr };
}

test('resnet50 trains at 64 px from scratch without leaking tensors, then evaluates its saved model', async () => {
  const out = join(work, 'resnet50');
  const { result } = await streamfit([
    'train',
    '--data',
    data,
    '--model',
    'resnet50',
    '--image-size',
    '64',
    '--batch-size',
    '4',
    '--epochs',
    '1',
    '--out',
    out,
  ]);
  assert.equal(result.status, 'completed');
  assert.ok((result.steps as number) > 0);
  assert.ok(Number.isFinite(result.valLoss));
  assert.equal(result.numTensorsEnd, result.numTensorsStart);
  const evaluated = (await streamfit(['evaluate', '--model', join(out, 'model'), data])).result;
  assert.equal(evaluated.count, 12);
  assert.ok((evaluated.accuracy as number) >= 0 && (evaluated.accuracy as number) <= 1);
});

test('mobilenetv2 fine-tunes in two phases at 64 px: the top blocks learn, the rest and every BatchNorm stay as loaded', async () => {
  const weights = await savedMobileNet();
  // Without early stopping the saved model has the last epoch's weights (else the best epoch's, maybe the head-only one).
  writeFileSync(join(work, 'top2.json'), JSON.stringify({ fineTuneBlocks: 2, earlyStopping: false }));
  const out = join(work, 'mobilenetv2');
  const { result, stderr } = await streamfit([
    'train',
    '--data',
    data,
    '--model',
    'mobilenetv2',
    '--image-size',
    '64',
    '--batch-size',
    '4',
    '--weights',
    weights,
    '--epochs',
    '1',
    '--fine-tune-epochs',
    '1',
    '--overrides',
    join(work, 'top2.json'),
    '--out',
    out,
  ]);
  assert.equal(result.status, 'completed');
  assert.equal(result.epochs, 2);
  assert.equal(result.numTensorsEnd, result.numTensorsStart);
  assert.match(stderr, /phase 2\/2: fine-tune top 2 blocks/);

  const loaded = await loadModel(weights);
  const trained = await loadModel(join(out, 'model'));
  const changed = (layer: string) =>
    trained
      .getLayer(layer)
      .getWeights()
      .some((weight, i) => {
        const before = loaded.getLayer(layer).getWeights()[i].dataSync();
        return weight.dataSync().some((value, j) => value !== before[j]);
      });
  for (const layer of ['block_16_project', 'block_15_expand', 'Conv_1']) assert.ok(changed(layer), `${layer} was fine-tuned`);
  for (const layer of ['block_14_project', 'block_1_expand', 'Conv1', 'block_16_project_BN', 'bn_Conv1'])
    assert.ok(!changed(layer), `${layer} stayed frozen`);
  loaded.dispose();
  trained.dispose();
});

test('a frozen mobilenetv2 trains its head on cached features: computed once, reused by the next run', async () => {
  const weights = await savedMobileNet();
  writeFileSync(join(work, 'cache.json'), JSON.stringify({ featureCache: true }));
  const train = async (name: string) =>
    (
      await streamfit([
        'train',
        '--data',
        data,
        '--model',
        'mobilenetv2',
        '--image-size',
        '64',
        '--weights',
        weights,
        '--epochs',
        '1',
        '--overrides',
        join(work, 'cache.json'),
        '--out',
        join(work, 'cached', name),
      ])
    ).result;
  const [first, second] = [await train('first'), await train('second')];
  assert.deepEqual([first.featureCache, second.featureCache], ['miss', 'hit']);
  assert.ok(Number.isFinite(second.valLoss));
});

test('a sweep over `model` runs a trial per model, and records one the config does not know as failed', async () => {
  const folder = join(import.meta.dirname, '..', 'runs', `test-model-sweep-${process.pid}`);
  mkdirSync(folder, { recursive: true });
  try {
    const pipelineFile = join(folder, 'sweep.ts');
    writeFileSync(
      pipelineFile,
      `import { pipeline as base } from '../../pipelines/default.ts';
export const space = { method: 'grid', parameters: { model: { grid: ['mobilenetv2', 'resnet18'] } } };
export const pipeline = { ...base, config: { ...base.config, name: 'test-model-sweep', epochs: 1 } };
`,
    );
    const out = join(work, 'sweep');
    const { result } = await streamfit([
      'sweep',
      '--config',
      pipelineFile,
      '--data',
      data,
      '--image-size',
      '32',
      '--batch-size',
      '4',
      '--out',
      out,
    ]);
    const trials = result.trials as Array<{ params: { model: string }; status: string; reason?: string; metric?: number }>;
    const byModel = Object.fromEntries(trials.map((trial) => [trial.params.model, trial]));
    assert.equal(byModel.mobilenetv2.status, 'done');
    assert.equal(byModel.resnet18.status, 'failed');
    assert.match(byModel.resnet18.reason!, /unknown model 'resnet18'/);
    const id = (trial: unknown) => (trial as { id: string }).id;
    const configOf = (trial: unknown) => JSON.parse(readFileSync(join(out, id(trial), 'overrides.json'), 'utf8')).model;
    assert.deepEqual(trials.map(configOf).sort(), ['mobilenetv2', 'resnet18']);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
