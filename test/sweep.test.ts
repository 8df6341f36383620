import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { promote, rungEpochs } from '../src/sweep/halving.ts';
import { sampleTrials, validateSearchSpace } from '../src/sweep/space.ts';
import { tempFolder } from './helpers/images.ts';
import { tinyDataset } from './helpers/tiny-dataset.ts';

const run = promisify(execFile);
const temporary: string[] = [];
/** A folder under /tmp this file writes, removed when it ends. */
function scratch(folder: string): string {
  temporary.push(folder);
  return folder;
}
after(() => {
  for (const folder of temporary) rmSync(folder, { recursive: true, force: true });
});
const root = join(import.meta.dirname, '..');
const cli = join(root, 'bin', 'streamfit.js');

test('children (sweep trials, bench probes) get the heap flags of the streamfit command and nothing else', async () => {
  const probe = `import { heapFlags } from ${JSON.stringify(join(root, 'src', 'config', 'heap-flags.ts'))}; console.log(JSON.stringify(heapFlags()));`;
  const { stdout } = await run(
    process.execPath,
    ['--initial-old-space-size=64', '--no-warnings', '--import', 'tsx', '--input-type=module', '-e', probe],
    { cwd: root },
  );
  assert.deepEqual(JSON.parse(stdout), ['--initial-old-space-size=64']);
  assert.match(
    readFileSync(cli, 'utf8').split('\n')[0],
    /^#!\/usr\/bin\/env -S node --initial-old-space-size=64$/,
    'the command sets the floor',
  );
});

test('grid spaces expand to every combination; random ones are reproducible and stay in range', () => {
  const grid = validateSearchSpace({
    method: 'grid',
    parameters: { lr: { grid: [0.1, 0.01] }, optimizer: { choice: ['adam', 'sgd', 'rmsprop'] } },
  });
  assert.equal(sampleTrials(grid, 100, 0).length, 6);
  assert.deepEqual(sampleTrials(grid, 100, 0)[5], { lr: 0.01, optimizer: 'rmsprop' });
  const random = validateSearchSpace({
    method: 'random',
    parameters: { lr: { logUniform: [1e-5, 1e-3] }, fineTuneBlocks: { intUniform: [2, 4] }, labelSmoothing: { uniform: [0, 0.2] } },
  });
  const a = sampleTrials(random, 50, 7);
  assert.deepEqual(a, sampleTrials(random, 50, 7));
  assert.notDeepEqual(a, sampleTrials(random, 50, 8));
  for (const trial of a) {
    assert.ok((trial.lr as number) >= 1e-5 && (trial.lr as number) <= 1e-3);
    assert.ok([2, 3, 4].includes(trial.fineTuneBlocks as number));
    assert.ok((trial.labelSmoothing as number) >= 0 && (trial.labelSmoothing as number) <= 0.2);
  }
});

test('a search space naming a field that is not in the run config is refused', () => {
  assert.throws(
    () => validateSearchSpace({ method: 'random', parameters: { learningRate: { choice: [1] } } }),
    /space\.parameters\.learningRate.*not a run-config field/,
  );
  assert.throws(
    () => validateSearchSpace({ method: 'grid', parameters: { lr: { logUniform: [1e-4, 1e-2] } } }),
    /grid search needs grid or choice lists/,
  );
  assert.throws(() => validateSearchSpace({ method: 'random', parameters: { lr: { uniform: [1, 0] } } }), /range \[1, 0\] is empty/);
  assert.throws(() => validateSearchSpace({ method: 'bayes', parameters: {} }), /space\.method/);
});

test('successive halving rungs and promotion', () => {
  assert.deepEqual(rungEpochs(1, 9, 3), [1, 3, 9]);
  assert.deepEqual(rungEpochs(1, 4, 3), [1, 3, 4]);
  assert.deepEqual(rungEpochs(2, 2, 3), [2]);
  const results = [
    { id: 'a', metric: 0.5 },
    { id: 'b', metric: 0.9 },
    { id: 'c', metric: null },
    { id: 'd', metric: 0.7 },
    { id: 'e', metric: Number.NaN },
  ];
  assert.deepEqual(promote(results, 3, true), ['b', 'd']);
  assert.deepEqual(promote(results, 3, false), ['a', 'd']);
});

test('sweep runs trials in their own folders, records a failing one and goes on, and resumes without redoing work', async () => {
  const data = scratch(tinyDataset(8));
  const folder = join(root, 'runs', `test-sweep-${process.pid}`);
  mkdirSync(folder, { recursive: true });
  const pipelineFile = join(folder, 'sweep.ts');
  writeFileSync(
    pipelineFile,
    `import { pipeline as base } from '../../pipelines/default.ts';
export const space = { method: 'grid', parameters: { batchSize: { grid: [4, 0, 2] } } };
export const pipeline = { ...base, config: { ...base.config, name: 'test-sweep', epochs: 2 } };
`,
  );
  const out = join(scratch(tempFolder()), 'sweep');
  const args = [
    cli,
    'sweep',
    '--config',
    pipelineFile,
    '--data',
    data,
    '--model',
    'efficientnet-b0',
    '--image-size',
    '32',
    '--backend',
    'wasm',
    '--trials',
    '3',
    '--eta',
    '2',
    '--out',
    out,
    '--json',
  ];
  const result = JSON.parse((await run(process.execPath, args, { maxBuffer: 2 ** 24 })).stdout.trim().split('\n').pop()!);
  assert.equal(result.sweepDir, out);
  assert.equal(result.failed, 1);
  const failed = result.trials.find((trial: { params: { batchSize: number } }) => trial.params.batchSize === 0);
  assert.equal(failed.status, 'failed');
  assert.match(failed.reason, /batchSize/);
  const statuses = result.trials.map((trial: { status: string }) => trial.status).sort();
  assert.deepEqual(statuses, ['done', 'failed', 'stopped']);
  assert.ok(result.best && typeof result.best.metric === 'number');
  for (const file of ['results.csv', 'results.json', 'report.html', 'best.json', 'sweep.json'])
    assert.ok(existsSync(join(out, file)), file);
  for (const trial of result.trials) assert.ok(existsSync(join(out, trial.id, 'overrides.json')));
  // The sweep folder and every trial folder are marked (a trial is a run: its train is not refused), and no lock is left.
  assert.ok(existsSync(join(out, '.streamfit-sweep')) && !existsSync(join(out, '.streamfit-lock')));
  for (const trial of result.trials)
    assert.ok(existsSync(join(out, trial.id, '.streamfit-run')) && !existsSync(join(out, trial.id, '.streamfit-lock')), trial.id);
  const best = JSON.parse(readFileSync(join(out, 'best.json'), 'utf8'));
  assert.equal(best.config.model, 'efficientnet-b0');

  const again = JSON.parse((await run(process.execPath, args, { maxBuffer: 2 ** 24 })).stdout.trim().split('\n').pop()!);
  assert.deepEqual(again.trials, result.trials, 'a finished sweep is not run again');
  rmSync(folder, { recursive: true, force: true });
});

test('the executor slurm refuses a sweep folder under /tmp; Slurm flags need --executor slurm', async () => {
  const refuse = async (args: string[]) => {
    const error = await run(process.execPath, [cli, 'sweep', ...args]).then(
      () => assert.fail(`streamfit sweep ${args.join(' ')} succeeded`),
      (failure: { code: number; stderr: string }) => failure,
    );
    assert.equal(error.code, 1);
    return error.stderr.trim();
  };
  assert.match(
    await refuse(['--executor', 'slurm', '--out', '/tmp/streamfit-sweep-refused']),
    /^streamfit: config field 'out': .* is under \/tmp, which every node has its own of: with the executor slurm the sweep folder must be on a filesystem all nodes see/,
  );
  assert.match(await refuse(['--slurm-max-running', '4']), /^streamfit: flag --slurm-max-running: applies only with --executor slurm$/);
  assert.match(
    await refuse(['--executor', 'slurm', '--slurm-args', "--comment='open", '--out', 'runs/x']),
    /flag --slurm-args: unclosed '/,
  );
  assert.equal(existsSync('/tmp/streamfit-sweep-refused'), false, 'nothing written before the refusal');
});

test('a frozen-backbone run with the feature cache computes features once and reuses them; its model is the whole classifier', async () => {
  const { selectBackend } = await import('../src/backend/ladder.ts');
  const { createModel } = await import('../src/models/create-model.ts');
  const { saveModel } = await import('../src/models/weights-io.ts');
  await selectBackend('wasm');
  const work = scratch(tempFolder());
  const { model } = await createModel('efficientnet-b0', { classes: 2, imageSize: 32 });
  await saveModel(model, join(work, 'weights')); // stands in for pretrained weights: nothing can be downloaded here
  model.dispose();
  writeFileSync(join(work, 'cache.json'), JSON.stringify({ featureCache: true }));
  const data = scratch(tinyDataset(8));
  const train = async (name: string) =>
    JSON.parse(
      (
        await run(process.execPath, [
          cli,
          'train',
          '--data',
          data,
          '--model',
          'efficientnet-b0',
          '--image-size',
          '32',
          '--weights',
          join(work, 'weights'),
          '--epochs',
          '2',
          '--overrides',
          join(work, 'cache.json'),
          '--backend',
          'wasm',
          '--out',
          join(work, 'runs', name),
          '--json',
        ])
      ).stdout
        .trim()
        .split('\n')
        .pop()!,
    );
  const first = await train('first');
  const second = await train('second');
  assert.equal(first.featureCache, 'miss');
  assert.equal(second.featureCache, 'hit');
  assert.ok(Number.isFinite(first.valLoss) && Number.isFinite(second.valLoss));
  assert.ok(existsSync(join(work, 'runs', '.feature-cache')));
  const predicted = JSON.parse(
    (
      await run(process.execPath, [cli, 'predict', '--model', join(work, 'runs', 'second', 'model'), data, '--backend', 'wasm', '--json'])
    ).stdout
      .trim()
      .split('\n')
      .pop()!,
  );
  assert.equal(predicted.count, 16);
});
