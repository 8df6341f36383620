// Checkpoints: model, optimizer slots, gradient accumulators and the typed run state, written to a temporary folder and renamed
// into place, so a crash mid-write never touches the last good checkpoint.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DataError } from '../errors.ts';
import { loadModel, saveModel, writeFileAtomic } from '../models/weights-io.ts';
import { parseRunState, type RunState } from './run-state.ts';
import type { Trainer } from './trainer.ts';

export interface Checkpoint {
  folder: string;
  state: RunState;
}

const latestFile = 'latest.json';

export async function writeCheckpoint(root: string, trainer: Trainer, run: RunState, keep = 2): Promise<string> {
  mkdirSync(root, { recursive: true });
  const { position } = run;
  const name = `epoch-${position.epoch}-batch-${position.batchInEpoch}-step-${position.optimizerStep}`;
  const temporary = join(root, `.writing-${name}-${process.pid}`);
  rmSync(temporary, { recursive: true, force: true });
  // First: with workers, a window's micro-batches so far are gathered here, their BatchNorm statistics into the model saved next.
  const accumulators = await trainer.accumulatorState();
  await saveModel(trainer.model, join(temporary, 'model'));

  const optimizerWeights = await trainer.training.optimizer.getWeights();
  const encoded = await tf.io.encodeWeights(optimizerWeights);
  // Slots are the optimizer's own variables; anything else (Adam's iteration count) was made for us.
  tf.dispose(optimizerWeights.map((weight) => weight.tensor).filter((tensor) => !(tensor instanceof tf.Variable)));
  writeFileAtomic(join(temporary, 'optimizer.bin'), new Uint8Array(tf.io.CompositeArrayBuffer.join(encoded.data)));
  const accumulatorBytes = new Uint8Array(accumulators.values.reduce((sum, values) => sum + values.byteLength, 0));
  let offset = 0;
  for (const values of accumulators.values) {
    accumulatorBytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
    offset += values.byteLength;
  }
  writeFileAtomic(join(temporary, 'accumulators.bin'), accumulatorBytes);
  const state = {
    run,
    optimizerSpecs: encoded.specs,
    accumulators: {
      lengths: accumulators.values.map((values) => values.length),
      batchesInWindow: accumulators.batchesInWindow,
      samplesInWindow: accumulators.samplesInWindow,
      lossSum: accumulators.lossSum,
      correct: accumulators.correct,
    },
    adamPowers: await adamPowers(trainer.training.optimizer),
    writtenAt: new Date().toISOString(),
  };
  writeFileAtomic(join(temporary, 'state.json'), JSON.stringify(state));

  const folder = join(root, name);
  rmSync(folder, { recursive: true, force: true });
  renameSync(temporary, folder);
  writeFileAtomic(join(root, latestFile), JSON.stringify({ folder: name }));
  pruneCheckpoints(root, name, keep);
  return folder;
}

function pruneCheckpoints(root: string, latest: string, keep: number): void {
  const folders = readdirSync(root)
    .filter((name) => name.startsWith('epoch-') && name !== latest)
    .map((name) => ({ name, step: Number(/step-(\d+)$/.exec(name)?.[1] ?? 0), batch: Number(/batch-(\d+)/.exec(name)?.[1] ?? 0) }))
    .sort((a, b) => b.step - a.step || b.batch - a.batch);
  for (const old of folders.slice(keep - 1)) rmSync(join(root, old.name), { recursive: true, force: true });
  for (const name of readdirSync(root))
    if (name.startsWith('.writing-') && !name.endsWith(`-${process.pid}`)) rmSync(join(root, name), { recursive: true, force: true });
}

export function findLatestCheckpoint(root: string): Checkpoint | undefined {
  const pointer = join(root, latestFile);
  if (!existsSync(pointer)) return undefined;
  const { folder } = JSON.parse(readFileSync(pointer, 'utf8')) as { folder: string };
  const path = join(root, folder);
  const statePath = join(path, 'state.json');
  if (!existsSync(statePath)) throw new DataError(statePath, 'the latest checkpoint is incomplete');
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as { run?: unknown };
  return { folder: path, state: parseRunState(state.run, statePath) };
}

export async function loadCheckpointModel(checkpoint: Checkpoint): Promise<tf.LayersModel> {
  return loadModel(join(checkpoint.folder, 'model'));
}

/** Restores optimizer slots and accumulators into a trainer built on the checkpoint's model. */
export async function restoreTrainerState(checkpoint: Checkpoint, trainer: Trainer): Promise<void> {
  const state = JSON.parse(readFileSync(join(checkpoint.folder, 'state.json'), 'utf8')) as {
    optimizerSpecs: tf.io.WeightsManifestEntry[];
    accumulators: { lengths: number[]; batchesInWindow: number; samplesInWindow: number; lossSum?: number; correct?: number };
    adamPowers?: [number, number];
  };
  if (state.optimizerSpecs.length > 0) {
    const bytes = readFileSync(join(checkpoint.folder, 'optimizer.bin'));
    const tensors = tf.io.decodeWeights(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
      state.optimizerSpecs,
    );
    // Optimizer slots are positional (one per trainable variable, in order), so names from the old process do not matter.
    await trainer.training.optimizer.setWeights(state.optimizerSpecs.map((spec) => ({ name: spec.name, tensor: tensors[spec.name] })));
    // setWeights makes variables of the decoded tensors (sharing their data), which stay behind unless disposed here.
    tf.dispose(Object.values(tensors));
    if (state.adamPowers) restoreAdamPowers(trainer.training.optimizer, state.adamPowers);
  }
  const bytes = readFileSync(join(checkpoint.folder, 'accumulators.bin'));
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let offset = 0;
  const values = state.accumulators.lengths.map((length) => {
    const slice = all.subarray(offset, offset + length);
    offset += length;
    return slice;
  });
  trainer.restoreAccumulators({
    values,
    batchesInWindow: state.accumulators.batchesInWindow,
    samplesInWindow: state.accumulators.samplesInWindow,
    lossSum: state.accumulators.lossSum ?? 0,
    correct: state.accumulators.correct ?? 0,
  });
  trainer.optimizerStep = checkpoint.state.position.optimizerStep;
}

/** Adam's β₁ᵗ and β₂ᵗ, which tfjs keeps as running products; its setWeights recomputes them as powers, off by a rounding. */
interface AdamPowers {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

const isAdam = (optimizer: tf.Optimizer): optimizer is tf.Optimizer & AdamPowers =>
  optimizer.getClassName() === 'Adam' && 'accBeta1' in optimizer && 'accBeta2' in optimizer;

async function adamPowers(optimizer: tf.Optimizer): Promise<[number, number] | undefined> {
  if (!isAdam(optimizer)) return undefined;
  return [(await optimizer.accBeta1.data())[0], (await optimizer.accBeta2.data())[0]];
}

/** Puts back the products themselves, so a resumed run updates the weights bit for bit as the uninterrupted one. */
function restoreAdamPowers(optimizer: tf.Optimizer, [beta1, beta2]: [number, number]): void {
  if (!isAdam(optimizer)) return;
  tf.tidy(() => {
    optimizer.accBeta1.assign(tf.scalar(beta1));
    optimizer.accBeta2.assign(tf.scalar(beta2));
  });
}
