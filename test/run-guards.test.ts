import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pipeline } from '../pipelines/default.ts';
import { resolveRunConfig } from '../src/config/run-config.ts';
import { maxImageSize } from '../src/config/train-config.ts';
import type { Batch } from '../src/data/samples.ts';
import { isValidationKey } from '../src/data/split-key.ts';
import { ConfigError, NothingToTrain, TooManyQuarantined } from '../src/errors.ts';
import { ProgressReporter } from '../src/report/progress.ts';
import type { Stage } from '../src/stream/stage.ts';
import type { RunContext, RunListener } from '../src/train/listener.ts';
import { runWithPipeline } from '../src/train/run-pipeline.ts';
import { source } from '../stages/source.ts';
import { tempFolder } from './helpers/images.ts';
import { tinyDataset } from './helpers/tiny-dataset.ts';

const silent = new ProgressReporter({ write: () => true } as unknown as NodeJS.WriteStream, false);
const small = { model: 'efficientnet-b0', imageSize: 32, batchSize: 4, epochs: 1, backend: 'wasm', earlyStopping: false };

async function train(data: string, fields: Record<string, unknown> = {}, listeners: RunListener[] = [], chain = pipeline) {
  const out = join(tempFolder(), 'run');
  const config = resolveRunConfig(chain, { ...small, data, out, ...fields });
  const summary = runWithPipeline(config, chain, { dataset: await source(data), resume: false, reporter: silent, listeners });
  return { out, summary };
}

/** A file name in `label` whose key falls on the wanted side of the default split. */
function nameOnSide(label: string, validation: boolean, prefix: string): string {
  for (let i = 0; ; i++) if (isValidationKey(`${label}/${prefix}-${i}.jpg`, 0.2, 0) === validation) return `${prefix}-${i}.jpg`;
}

async function refused(run: Promise<unknown>, out: string, error: new (...args: never[]) => Error, message: RegExp) {
  await assert.rejects(run, (thrown: unknown) => thrown instanceof error && message.test((thrown as Error).message));
  assert.equal(existsSync(out), false, 'a refused run leaves no folder behind');
}

test('a dataset with fewer than two classes with images is refused before any work, and leaves no folder', async () => {
  const one = tinyDataset(4, ['horizontal']);
  const run = await train(one);
  await refused(
    run.summary,
    run.out,
    NothingToTrain,
    /nothing to train: a classifier needs at least 2 classes with images; found 1 \(horizontal\)$/,
  );
  mkdirSync(join(one, 'vertical'));
  const withEmpty = await train(one);
  await refused(withEmpty.summary, withEmpty.out, NothingToTrain, /found 1 \(horizontal\), and 1 without images \('vertical'\)/);
  const hollow = tempFolder();
  for (const name of ['cats', 'dogs']) mkdirSync(join(hollow, name));
  const none = await train(hollow);
  await refused(none.summary, none.out, NothingToTrain, /found 0, and 2 without images \('cats', 'dogs'\)$/);
});

test('an empty class folder beside full ones is refused, naming the class, instead of becoming an output of the head', async () => {
  const data = tinyDataset(4);
  mkdirSync(join(data, 'zebra'));
  const run = await train(data);
  await refused(run.summary, run.out, NothingToTrain, /class 'zebra' has no images: the head would get an output no sample teaches/);
});

test('a split that leaves no training or no validation sample is refused', async () => {
  const data = tinyDataset(4);
  const keys = ['horizontal', 'vertical'].flatMap((label) => [0, 1, 2, 3].map((i) => `${label}/${i}.jpg`));
  assert.ok(keys.every((key) => !isValidationKey(key, 0.01, 0)) && keys.every((key) => isValidationKey(key, 0.99, 0)));
  const noValidation = await train(data, { validation: 0.01 });
  await refused(noValidation.summary, noValidation.out, NothingToTrain, /no validation samples after the split: none of the 8 samples/);
  const noTraining = await train(data, { validation: 0.99 });
  await refused(
    noTraining.summary,
    noTraining.out,
    NothingToTrain,
    /no training samples after the split: all 8 fall on the validation side/,
  );
});

test('an image size above the maximum is refused by the config, saying why', async () => {
  const data = tinyDataset(1);
  assert.throws(
    () => resolveRunConfig(pipeline, { ...small, data, out: 'unused', imageSize: 100_000 }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.field === 'imageSize' &&
      new RegExp(`got 100000; at most ${maxImageSize} px: one image's first feature map alone`).test(error.message),
  );
  assert.doesNotThrow(() => resolveRunConfig(pipeline, { ...small, data, out: 'unused', imageSize: maxImageSize }));
});

test('a run whose quarantined share passes maxQuarantined stops, naming the count and quarantine.jsonl', async () => {
  const data = tinyDataset(4);
  writeFileSync(join(data, 'horizontal', nameOnSide('horizontal', false, 'broken')), 'not an image');
  const run = await train(data);
  const file = join(run.out, 'quarantine.jsonl');
  await assert.rejects(run.summary, (error: unknown) => {
    assert.ok(error instanceof TooManyQuarantined, String(error));
    assert.equal(
      error.message,
      `1 of 9 files quarantined (11.1 %), more than maxQuarantined 5.0 % allows: the run stops; reasons in ${file}`,
    );
    return true;
  });
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1);
});

test('quarantine.jsonl holds each file once per run, training and validation alike; the count reaches listeners and the summary', async () => {
  const data = tinyDataset(4);
  const trainSide = nameOnSide('horizontal', false, 'broken');
  const validationSide = nameOnSide('horizontal', true, 'broken');
  for (const name of [trainSide, validationSide]) writeFileSync(join(data, 'horizontal', name), 'not an image');
  const seen: number[] = [];
  const watcher: RunListener = { onEpochEnd: (run: RunContext) => void seen.push(run.quarantined) };
  const run = await train(data, { epochs: 2, maxQuarantined: 0.5 }, [watcher]);
  const summary = await run.summary;
  const lines = readFileSync(join(run.out, 'quarantine.jsonl'), 'utf8').trim().split('\n');
  assert.deepEqual(
    lines.map((line) => JSON.parse(line).path).sort(),
    [trainSide, validationSide].map((name) => join(data, 'horizontal', name)).sort(),
  );
  assert.equal(summary.quarantined, 2);
  assert.deepEqual(seen, [2, 2]);
  assert.equal(summary.numTensorsEnd, summary.numTensorsStart);
});

test('an epoch that makes no optimizer step stops the run instead of completing it', async () => {
  const dropEverything: Stage<Batch, Batch> = async function* (batches) {
    for await (const batch of batches) {
      batch.release?.();
      if (batch.keys.length < 0) yield batch; // never: every batch is dropped
    }
  };
  const empty = { ...pipeline, train: (...args: Parameters<typeof pipeline.train>) => pipeline.train(...args).pipe(dropEverything) };
  const run = await train(tinyDataset(4), {}, [], empty);
  await assert.rejects(run.summary, (error: unknown) => {
    assert.ok(error instanceof NothingToTrain, String(error));
    assert.match(error.message, /epoch 1 made no optimizer step: the training stream yielded no batch$/);
    return true;
  });
});

test('a dataset smaller than one batch trains on a partial batch; a last partial window is applied, not dropped', async () => {
  const data = tinyDataset(8); // 13 training samples, 3 validation
  const single = await (await train(data, { batchSize: 16 })).summary;
  assert.equal(single.status, 'completed');
  assert.equal(single.steps, 1, 'the only (partial) batch is trained, not dropped');
  // Micro-batches of 4 (the last, partial one dropped): 3 a epoch; windows of 2: one full, then one of 1 applied at the epoch's end.
  const windows = await (await train(data, { batchSize: 8, microBatch: 4, epochs: 2 })).summary;
  assert.equal(windows.steps, 4);
  assert.equal(windows.numTensorsEnd, windows.numTensorsStart);
});
