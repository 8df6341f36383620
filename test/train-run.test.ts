import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { isValidationKey } from '../src/data/split-key.ts';
import type { RunState } from '../src/train/run-state.ts';
import { tempFolder } from './helpers/images.ts';
import { tinyDataset } from './helpers/tiny-dataset.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'bin', 'streamfit.js');
const small = ['--model', 'efficientnet-b0', '--image-size', '32', '--batch-size', '4', '--backend', 'wasm'];

function lastJson(stdout: string) {
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

test('train writes a complete run folder and leaks no tensors; --resume adds epochs', async () => {
  const data = tinyDataset();
  const out = join(tempFolder(), 'run');
  const first = lastJson(
    (await run(process.execPath, [cli, 'train', '--data', data, '--out', out, '--epochs', '2', ...small, '--json'])).stdout,
  );
  assert.equal(first.runDir, out);
  assert.equal(first.backend, 'wasm');
  assert.equal(first.epochs, 2);
  assert.equal(first.numTensorsEnd, first.numTensorsStart);
  assert.ok(first.steps > 0);
  assert.equal(first.quarantined, 0);
  for (const file of [
    'config.json',
    'metrics.jsonl',
    'quarantine.jsonl',
    'report.html',
    'model/model.json',
    'model/weights.bin',
    'checkpoints/latest.json',
    '.streamfit-run',
  ]) {
    assert.ok(existsSync(join(out, file)), file);
  }
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(config.backend.name, 'wasm');
  assert.deepEqual(config.classes, ['horizontal', 'vertical']);
  const epochs = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line))
    .filter((line) => line.type === 'epoch');
  assert.equal(epochs.length, 2);
  assert.equal(epochs[0].confusion.length, 2);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /<svg/);
  assert.doesNotMatch(html, /<script|https?:\/\//, 'self-contained: no script, no network');

  const predicted = lastJson(
    (await run(process.execPath, [cli, 'predict', '--model', join(out, 'model'), data, '--backend', 'wasm', '--top', '2', '--json']))
      .stdout,
  );
  assert.equal(predicted.count, 24);
  assert.ok(
    predicted.predictions.every(
      (p: { label: string; top: unknown[] }) => ['horizontal', 'vertical'].includes(p.label) && p.top.length === 2,
    ),
  );
  // One image file, human output: its path and its top classes, best first, on stdout.
  const image = join(data, 'vertical', readdirSync(join(data, 'vertical'))[0]);
  const single = await run(process.execPath, [cli, 'predict', '--model', join(out, 'model'), image, '--backend', 'wasm', '--top', '2']);
  const ranked = String.raw`(horizontal|vertical) 0\.\d{4}`;
  assert.match(single.stdout, new RegExp(`^${image}\\t${ranked}\\t${ranked}\\n$`));
  const metadata = JSON.parse(readFileSync(join(out, 'model', 'model.json'), 'utf8')).userDefinedMetadata.streamfit;
  assert.deepEqual(metadata.preprocessing, { imageSize: 32, fit: 'cover', normalize: 'none', float16: false });
  // evaluate, with the preprocessing stored in the model, sees the validation images exactly as validation did.
  const heldOut = join(tempFolder(), 'validation');
  for (const label of ['horizontal', 'vertical']) {
    mkdirSync(join(heldOut, label), { recursive: true });
    for (const file of readdirSync(join(data, label)))
      if (isValidationKey(`${label}/${file}`, 0.2, 0)) copyFileSync(join(data, label, file), join(heldOut, label, file));
  }
  const evaluatedHeldOut = await run(process.execPath, [
    cli,
    'evaluate',
    '--model',
    join(out, 'model'),
    heldOut,
    '--backend',
    'wasm',
    '--json',
  ]);
  const again = lastJson(evaluatedHeldOut.stdout);
  assert.ok(Math.abs(again.loss - first.valLoss) < 1e-5, `evaluate ${again.loss} vs the run's validation ${first.valLoss}`);
  assert.equal(again.accuracy, first.valAccuracy);
  // Top-5 of 2 classes is 100 % whatever the model does: left out. The text (on stderr with --json) counts the quarantined.
  assert.equal(again.topK, null);
  assert.match(evaluatedHeldOut.stderr, /^\d+ images: accuracy \d+\.\d%, loss \d\.\d{4}; 0 files quarantined\n/m);

  const evaluated = lastJson(
    (await run(process.execPath, [cli, 'evaluate', '--model', join(out, 'model'), data, '--backend', 'wasm', '--json'])).stdout,
  );
  assert.equal(evaluated.count, 24);
  assert.equal(
    evaluated.confusion.flat().reduce((a: number, b: number) => a + b, 0),
    24,
  );
  assert.ok(evaluated.accuracy >= 0 && evaluated.accuracy <= 1);

  const resumed = lastJson(
    (await run(process.execPath, [cli, 'train', '--data', data, '--out', out, '--epochs', '3', '--resume', ...small, '--json'])).stdout,
  );
  assert.equal(resumed.epochs, 3, 'epochs count those before the resume');
  assert.equal(resumed.steps, first.steps * 1.5);
});

test("a second train into a running one's folder is refused at once; SIGTERM writes a checkpoint and exits 143; --resume finishes", async () => {
  const data = tinyDataset(16);
  const out = join(tempFolder(), 'run');
  const args = [cli, 'train', '--data', data, '--out', out, '--epochs', '2', ...small, '--json'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let signalled = false;
  let second: Promise<void> | undefined;
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (!signalled && /"event":"step","epoch":0,"epochs":2,"step":3,/.test(stderr)) {
      signalled = true;
      child.kill('SIGSTOP'); // paused, alive and holding its folder's lock, while a second train tries the same folder
      second = run(process.execPath, args).then(
        () => assert.fail('a second train into a folder in use must be refused'),
        (error: { code: number; stderr: string }) => {
          assert.equal(error.code, 1);
          assert.match(
            error.stderr,
            new RegExp(`^streamfit: ${out} is in use by streamfit process ${child.pid} \\(since [^)]+\\): wait for it to end`, 'm'),
          );
        },
      );
      const resume = () => {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
      };
      second.then(resume, resume);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  await second;
  assert.equal(code, 143, stderr.slice(-500));
  const latest = JSON.parse(readFileSync(join(out, 'checkpoints', 'latest.json'), 'utf8'));
  assert.match(latest.folder, /^epoch-0-batch-\d+-step-\d+$/);

  const resumed = lastJson((await run(process.execPath, [...args.slice(0, -1), '--resume', '--json'])).stdout);
  assert.equal(resumed.epochs, 2);
  // The default pipeline drops a last partial batch: every epoch is floor(train samples / 4) steps, interrupted or not.
  const keys = ['horizontal', 'vertical'].flatMap((label) => readdirSync(join(data, label)).map((file) => `${label}/${file}`));
  const trainSamples = keys.filter((key) => !isValidationKey(key, 0.2, 0)).length;
  assert.equal(resumed.steps, 2 * Math.floor(trainSamples / 4));
  assert.equal(resumed.status, 'completed');
});

test('a bad config is refused before any work, naming the field, the value and what was expected', async () => {
  const data = tinyDataset(2);
  const out = join(tempFolder(), 'run');
  const cases: Array<[string[], RegExp]> = [
    [['--lr=-1'], /config field 'lr': got -1; lr must be positive/],
    [['--lr', '-1'], /flag --lr: a value that starts with '-' must be joined to its flag: --lr=<value>/],
    [['--optimizer', 'adm'], /config field 'optimizer': got "adm"; optimizer must be "adam", "adamw", "rmsprop" or "sgd"/],
    [['--micro-batch', 'two'], /flag --micro-batch: expected an integer/],
    [['--micro-batch', '3'], /config field 'microBatch': batchSize 4 is not a multiple of microBatch 3/],
    [['--accumulate', '2'], /flag --accumulate: removed: pass --batch-size .* and --micro-batch/],
    [['--memory', 'lots'], /config field 'memory': got "lots"; expected a size such as 8GiB/],
    [['--model', 'resnet-50'], /unknown model 'resnet-50'/],
    [['--config', 'pipelines/missing.ts'], /flag --config: pipelines\/missing\.ts: no such pipeline file/],
  ];
  for (const [flags, message] of cases) {
    await assert.rejects(
      run(process.execPath, [cli, 'train', '--data', data, '--out', out, ...small, ...flags]),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.match(error.stderr, message);
        assert.equal(
          error.stderr
            .trim()
            .split('\n')
            .filter((line) => line.startsWith('streamfit:')).length,
          1,
        );
        return true;
      },
    );
  }
  assert.ok(!existsSync(out), 'nothing was written');
});

test('a crash in the middle of writing a checkpoint leaves the last good one in place', async () => {
  const { writeCheckpoint, findLatestCheckpoint, loadCheckpointModel } = await import('../src/train/checkpoint.ts');
  const { selectBackend } = await import('../src/backend/ladder.ts');
  const { createModel } = await import('../src/models/create-model.ts');
  const { Trainer } = await import('../src/train/trainer.ts');
  const { runStateVersion } = await import('../src/train/run-state.ts');
  await selectBackend('wasm');
  const { model } = await createModel('efficientnet-b0', { classes: 2, imageSize: 32 });
  const trainer = new Trainer({ model, optimizer: { name: 'adam', lr: 1e-3 }, accumulate: 1 });
  const root = join(tempFolder(), 'checkpoints');
  const state: RunState = {
    version: runStateVersion,
    position: { phase: 0, epoch: 1, batchInEpoch: 3, optimizerStep: 7, chunks: 1 },
    steps: 12,
    history: [],
    best: null,
    stopReason: null,
    listeners: { earlyStopping: { best: 0.5, bestEpoch: 0, waited: 1 } },
  };
  await writeCheckpoint(root, trainer, state);
  // What a process killed mid-write leaves behind: a half-written folder under the temporary name.
  mkdirSync(join(root, '.writing-epoch-1-batch-4-step-8-99999', 'model'), { recursive: true });
  writeFileSync(join(root, '.writing-epoch-1-batch-4-step-8-99999', 'model', 'weights.bin'), 'partial');
  const latest = findLatestCheckpoint(root)!;
  assert.deepEqual(latest.state, state);
  const loaded = await loadCheckpointModel(latest);
  assert.equal(loaded.countParams(), model.countParams());
  trainer.dispose();
  model.dispose();
  loaded.dispose();
});
