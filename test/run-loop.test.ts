import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pipeline } from '../pipelines/default.ts';
import { resolveRunConfig } from '../src/config/run-config.ts';
import { ConfigError, DataError } from '../src/errors.ts';
import { ProgressReporter } from '../src/report/progress.ts';
import { findLatestCheckpoint } from '../src/train/checkpoint.ts';
import type { EpochEvent, RunContext, RunListener, StepEvent } from '../src/train/listener.ts';
import { runWithPipeline } from '../src/train/run-pipeline.ts';
import { source } from '../stages/source.ts';
import { tempFolder } from './helpers/images.ts';
import { tinyDataset } from './helpers/tiny-dataset.ts';

const silent = new ProgressReporter({ write: () => true } as unknown as NodeJS.WriteStream, false);

/** Records every hook, and ends the run after `stopAfter` epochs with its own verdict. */
class Recorder implements RunListener {
  readonly calls: string[] = [];
  constructor(private readonly stopAfter: number) {}
  onRunStart() {
    this.calls.push('runStart');
  }
  onPhaseStart() {
    this.calls.push('phaseStart');
  }
  onStep(_run: RunContext, step: StepEvent) {
    this.calls.push(`step ${step.step}`);
  }
  onTrainEpochEnd(_run: RunContext, epoch: number) {
    this.calls.push(`trainEpochEnd ${epoch}`);
  }
  onValidationEnd(_run: RunContext, event: EpochEvent) {
    this.calls.push(`validationEnd ${event.epoch}`);
    return event.epoch + 1 >= this.stopAfter ? { stop: `recorder stops after ${this.stopAfter}` } : undefined;
  }
  onEpochEnd(run: RunContext, event: EpochEvent) {
    this.calls.push(`epochEnd ${event.epoch} best=${event.best} next=${run.position.epoch}`);
  }
  onTrainEnd() {
    this.calls.push('trainEnd');
  }
  onRunEnd() {
    this.calls.push('runEnd');
  }
}

test('the loop calls listener hooks in order, and a listener verdict ends the run early', async () => {
  const data = tinyDataset(6);
  const out = join(tempFolder(), 'run');
  const config = resolveRunConfig(pipeline, {
    data,
    out,
    model: 'efficientnet-b0',
    imageSize: 32,
    batchSize: 4,
    microBatch: 2,
    epochs: 3,
    backend: 'wasm',
    earlyStopping: false,
  });
  const recorder = new Recorder(2);
  const summary = await runWithPipeline(config, pipeline, {
    dataset: await source(data),
    resume: false,
    reporter: silent,
    listeners: [recorder],
  });
  assert.equal(summary.status, 'stopped-early');
  assert.equal(summary.epochs, 2);
  assert.equal(summary.numTensorsEnd, summary.numTensorsStart);
  // 10 training samples in micro-batches of 2 (the last partial one dropped): 4 micro-batches, 2 updates an epoch.
  const steps = (from: number) => [`step ${from}`, `step ${from + 1}`];
  assert.deepEqual(recorder.calls, [
    'runStart',
    'phaseStart',
    ...steps(1),
    'trainEpochEnd 0',
    'validationEnd 0',
    'epochEnd 0 best=true next=1',
    ...steps(3),
    'trainEpochEnd 1',
    'validationEnd 1',
    'epochEnd 1 best=true next=2',
    'trainEnd',
    'runEnd',
  ]);
  assert.equal(summary.steps, 4, 'steps are optimizer updates (batch size 4 = 2 micro-batches of 2)');
  const latest = findLatestCheckpoint(join(out, 'checkpoints'))!;
  assert.equal(latest.state.version, 1);
  assert.deepEqual(latest.state.position, { phase: 0, epoch: 2, batchInEpoch: 0, optimizerStep: 4, chunks: 1 });
  assert.equal(latest.state.stopReason, 'recorder stops after 2');
  assert.equal(latest.state.history.length, 2);
  rmSync(data, { recursive: true, force: true });
  rmSync(join(out, '..'), { recursive: true, force: true });
});

test('a checkpoint whose run state has an unknown version, or none, is refused naming the file', () => {
  const root = tempFolder();
  const folder = join(root, 'epoch-1-batch-0-step-3');
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(root, 'latest.json'), JSON.stringify({ folder: 'epoch-1-batch-0-step-3' }));
  const statePath = join(folder, 'state.json');
  writeFileSync(statePath, JSON.stringify({ run: { version: 99 } }));
  assert.throws(
    () => findLatestCheckpoint(root),
    (error: unknown) =>
      error instanceof DataError &&
      error.file === statePath &&
      /run-state version 99 is not one this streamfit reads \(1\)/.test(error.message),
  );
  writeFileSync(statePath, JSON.stringify({ position: { phase: 0, epoch: 1, extra: {} } }));
  assert.throws(() => findLatestCheckpoint(root), /has no run-state version: written by an older streamfit/);
  rmSync(root, { recursive: true, force: true });
});

test('a pipeline whose evaluate is not the stored preprocessing is refused before any work', async () => {
  const data = tinyDataset(2);
  const config = resolveRunConfig(pipeline, { data, out: join(tempFolder(), 'run'), imageSize: 32, batchSize: 4, backend: 'wasm' });
  const custom = {
    ...pipeline,
    evaluate: (...args: Parameters<typeof pipeline.evaluate>) => pipeline.train(args[0], args[1], args[2]),
  };
  await assert.rejects(
    runWithPipeline(config, custom, { dataset: await source(data), resume: false, reporter: silent }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.field === 'pipeline.evaluate' &&
      /got source → split → shuffle → decode → resize → augment → render → normalize → fp16Cast → batch → prefetch$/.test(error.message),
  );
  rmSync(data, { recursive: true, force: true });
});
