import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { isValidationKey } from '../src/data/split-key.ts';
import type { RunState } from '../src/train/run-state.ts';
import { tempFolder } from './helpers/images.ts';
import { fixtureFolder, tinyDataset } from './helpers/tiny-dataset.ts';

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
  const ranked = String.raw`(horizontal|vertical) [01]\.\d{4}`;
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
  assert.match(evaluatedHeldOut.stderr, /^\d+ images: accuracy \d+\.\d%, loss \d+\.\d{4}; 0 files quarantined\n/m);

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

// Reproducibility and exact resume, on the wasm backend: a small run (16 images a class, 32 px, batch size 4 in micro-batches
// of 2, so update windows span micro-batches and epochs), a checkpoint every 2 updates, precise BN on (the default).
const repeatable = (out: string, data: string, more: string[] = []) => [
  cli,
  'train',
  '--data',
  data,
  '--out',
  out,
  '--epochs',
  '3',
  ...small,
  '--micro-batch',
  '2',
  '--overrides',
  join(data, '..', 'overrides.json'),
  ...more,
  '--json',
];

interface Trained {
  summary: Record<string, unknown> & { numTensorsStart: number; numTensorsEnd: number; status: string; steps: number };
  /** The loss of every optimizer update, in order, from the JSON progress lines. */
  losses: number[];
  stderr: string;
}

/** Runs `streamfit train`; `stopAt` sends `signal` once the progress line of update `stopAt` is on stderr. */
async function train(
  args: string[],
  stop?: { at: number; signal: NodeJS.Signals; before?: () => void },
): Promise<Trained & { code: number | null }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let [stdout, stderr] = ['', ''];
  let signalled = false;
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (stop && !signalled && new RegExp(`"event":"step"[^\\n]*"step":${stop.at},`).test(stderr)) {
      signalled = true;
      stop.before?.();
      child.kill(stop.signal);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
  const losses = stderr
    .split('\n')
    .filter((line) => line.startsWith('{"event":"step"'))
    .map((line) => JSON.parse(line).loss as number);
  return { code, summary: stdout.trim() ? lastJson(stdout) : undefined, losses, stderr };
}

/** The last line each epoch wrote to metrics.jsonl (a resumed epoch's line replaces an interrupted session's). */
function epochMetrics(out: string) {
  const epochs = new Map<number, unknown>();
  for (const line of readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')) {
    const record = JSON.parse(line);
    if (record.type === 'epoch') {
      const { epoch, trainLoss, trainAccuracy, valLoss, valAccuracy, valTopK, learningRate, trainSamples, confusion } = record;
      epochs.set(epoch, { epoch, trainLoss, trainAccuracy, valLoss, valAccuracy, valTopK, learningRate, trainSamples, confusion });
    }
  }
  return [...epochs.values()];
}

const weightsOf = (out: string) => readFileSync(join(out, 'model', 'weights.bin'));

const exact = (() => {
  const root = tempFolder('streamfit-exact-');
  const data = join(root, 'data');
  for (const label of ['horizontal', 'vertical']) {
    mkdirSync(join(data, label), { recursive: true });
    for (let i = 0; i < 16; i++)
      copyFileSync(join(fixtureFolder, label, `${label}-${String(i).padStart(3, '0')}.jpg`), join(data, label, `${i}.jpg`));
  }
  writeFileSync(join(root, 'overrides.json'), JSON.stringify({ checkpointEverySteps: 2 }));
  let uninterrupted: Promise<Trained> | undefined;
  return {
    root,
    data,
    out: (name: string) => join(root, name),
    /** One uninterrupted run, shared by the tests below. */
    uninterrupted: () => (uninterrupted ??= train(repeatable(join(root, 'uninterrupted'), data)) as Promise<Trained>),
  };
})();
after(() => rmSync(exact.root, { recursive: true, force: true }));

test('the same config, seed and backend give the same losses step for step and the same weights; another seed does not', async () => {
  const [first, second, otherSeed] = await Promise.all([
    exact.uninterrupted(),
    train(repeatable(exact.out('again'), exact.data)),
    train(repeatable(exact.out('seed-1'), exact.data, ['--seed', '1', '--epochs', '1'])),
  ]);
  assert.equal(first.summary.status, 'completed', first.stderr.slice(-500));
  assert.ok(first.losses.length >= 15, `${first.losses.length} updates`);
  assert.deepEqual(second.losses, first.losses);
  assert.ok(weightsOf(exact.out('again')).equals(weightsOf(exact.out('uninterrupted'))), 'the same weights, bit for bit');
  assert.deepEqual(epochMetrics(exact.out('again')), epochMetrics(exact.out('uninterrupted')));
  assert.notDeepEqual(otherSeed.losses, first.losses.slice(0, otherSeed.losses.length));
});

test('SIGTERM then --resume ends with exactly the weights and metrics of an uninterrupted run; report.html is there after each epoch', async () => {
  const uninterrupted = await exact.uninterrupted();
  const out = exact.out('sigterm');
  let watched = '';
  // Update 8 is in the second epoch: the first epoch's report must be on disk by then.
  const stopped = await train(repeatable(out, exact.data), {
    at: 8,
    signal: 'SIGTERM',
    before: () => (watched = readFileSync(join(out, 'report.html'), 'utf8')),
  });
  assert.equal(stopped.code, 143, stopped.stderr.slice(-500));
  assert.match(watched, /running: epoch 1 of 3 done/);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /interrupted by SIGTERM/);
  const latest = JSON.parse(readFileSync(join(out, 'checkpoints', 'latest.json'), 'utf8'));
  assert.match(latest.folder, /^epoch-[12]-batch-\d+-step-\d+$/, 'stopped in the middle of the run');

  const resumed = await train([...repeatable(out, exact.data), '--resume']);
  assert.equal(resumed.summary.status, 'completed', resumed.stderr.slice(-500));
  assert.equal(resumed.summary.steps, uninterrupted.summary.steps);
  assert.deepEqual(resumed.losses, uninterrupted.losses.slice(-resumed.losses.length), 'the losses after the resume are the same');
  assert.ok(weightsOf(out).equals(weightsOf(exact.out('uninterrupted'))), 'the same weights, bit for bit');
  assert.deepEqual(epochMetrics(out), epochMetrics(exact.out('uninterrupted')), 'the interrupted epoch reports what it would have');
  assert.equal(resumed.summary.numTensorsEnd, resumed.summary.numTensorsStart);
});

test('kill -9 then --resume ends with exactly the weights of an uninterrupted run, and leaks no tensors', async () => {
  const uninterrupted = await exact.uninterrupted();
  const out = exact.out('killed');
  // When update 5 is logged, update 4's checkpoint has been written (listeners run in order, checkpointing after progress).
  const killed = await train(repeatable(out, exact.data), { at: 5, signal: 'SIGKILL' });
  assert.equal(killed.code, null, 'killed');
  const resumed = await train([...repeatable(out, exact.data), '--resume']);
  assert.equal(resumed.summary.status, 'completed', resumed.stderr.slice(-500));
  assert.equal(resumed.summary.steps, uninterrupted.summary.steps);
  assert.deepEqual(resumed.losses, uninterrupted.losses.slice(-resumed.losses.length), 'the losses after the resume are the same');
  assert.ok(weightsOf(out).equals(weightsOf(exact.out('uninterrupted'))), 'the same weights, bit for bit');
  assert.deepEqual(epochMetrics(out), epochMetrics(exact.out('uninterrupted')));
  assert.equal(resumed.summary.numTensorsEnd, resumed.summary.numTensorsStart, 'resuming leaks nothing (it leaked the optimizer slots)');
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
    epochProgress: { updates: 3, lossSum: 7.5, lossSamples: 12, correct: 9, seconds: 4.25 },
    seconds: 61.5,
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

test("a second train into a running one's folder is refused at once, naming the process that holds it", async () => {
  const data = tinyDataset(16);
  const out = join(tempFolder(), 'run');
  const args = [cli, 'train', '--data', data, '--out', out, '--epochs', '2', ...small, '--json'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let second: Promise<void> | undefined;
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (!second && /"event":"step"[^\n]*"step":3,/.test(stderr)) {
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
      const stop = () => {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
      };
      second.then(stop, stop);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  await second;
  assert.ok(second, stderr.slice(-500));
  assert.equal(code, 143, stderr.slice(-500));
});
