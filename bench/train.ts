// Benchmark: full training steps (forward, backward, Adam) of an EfficientNet, after one warm-up step, on one backend;
// optionally beside a baseline backend and PyTorch measured in the same run.

import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import type { Batch } from '../src/data/samples.ts';
import { createModel } from '../src/models/create-model.ts';
import { Trainer } from '../src/train/trainer.ts';

export interface TrainBenchOptions {
  backend?: string;
  model: string;
  imageSize: number;
  batch: number;
  steps: number;
}

export interface TrainBenchResult {
  backend: string;
  model: string;
  imageSize: number;
  batch: number;
  steps: number;
  msPerStep: number;
  /** Process CPU time a step (user + system, all threads): steadier than wall time on a shared machine. */
  cpuMsPerStep: number;
  imagesPerSec: number;
  numTensorsBefore: number;
  numTensorsAfter: number;
}

function syntheticBatch(size: number, imageSize: number, classes: number): Batch {
  const length = size * imageSize * imageSize * 3;
  const x = Uint8Array.from({ length }, (_, i) => (i * 2654435761) >>> 24);
  return {
    x,
    y: Int32Array.from({ length: size }, (_, i) => i % classes),
    keys: [],
    shape: [size, imageSize, imageSize, 3],
    dtype: 'uint8',
    bytes: length,
  };
}

export async function benchTrain(options: TrainBenchOptions): Promise<TrainBenchResult> {
  const backend = await selectBackend(options.backend);
  const { model } = await createModel(options.model, { classes: 10, imageSize: options.imageSize, freeze: 'none' });
  const trainer = new Trainer({ model, optimizer: { name: 'adam', lr: 1e-3 }, accumulate: 1 });
  const batch = syntheticBatch(options.batch, options.imageSize, 10);
  trainer.step(batch); // warm-up: kernels compiled, optimizer slots made
  const numTensorsBefore = tf.memory().numTensors;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  for (let step = 0; step < options.steps; step++) trainer.step(batch);
  const msPerStep = (performance.now() - start) / options.steps;
  const cpu = process.cpuUsage(cpuStart);
  const cpuMsPerStep = (cpu.user + cpu.system) / 1000 / options.steps;
  const numTensorsAfter = tf.memory().numTensors;
  trainer.dispose();
  model.dispose();
  return {
    backend: backend.name,
    model: options.model,
    imageSize: options.imageSize,
    batch: options.batch,
    steps: options.steps,
    msPerStep: round(msPerStep),
    cpuMsPerStep: round(cpuMsPerStep),
    imagesPerSec: round((options.batch * 1000) / msPerStep),
    numTensorsBefore,
    numTensorsAfter,
  };
}

/** The same benchmark in a fresh process (each backend gets a clean engine). */
export function benchTrainInChild(options: TrainBenchOptions): TrainBenchResult {
  const self = fileURLToPath(new URL('./train.ts', import.meta.url));
  const output = execFileSync(process.execPath, ['--import', 'tsx', self, JSON.stringify(options)], {
    encoding: 'utf8',
    maxBuffer: 2 ** 24,
  });
  return JSON.parse(output.trim().split('\n').pop()!);
}

/** PyTorch's torchvision EfficientNet-B0 on the same cores, when Debian's python3-torchvision is installed; undefined otherwise. */
export function benchPytorch(
  options: TrainBenchOptions,
): { msPerStep: number; cpuMsPerStep: number; version: string; threads: number } | { unavailable: string } {
  const script = fileURLToPath(new URL('./pytorch_train.py', import.meta.url));
  try {
    const output = execFileSync(
      '/usr/bin/python3',
      [
        script,
        '--image-size',
        String(options.imageSize),
        '--batch',
        String(options.batch),
        '--steps',
        String(options.steps),
        '--threads',
        String(availableParallelism()),
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return JSON.parse(output.trim().split('\n').pop()!);
  } catch (error) {
    return {
      unavailable: `PyTorch baseline not run (${(error as Error).message.split('\n')[0]}); install it with apt-get install python3-torchvision`,
    };
  }
}

export function machine(): Record<string, unknown> {
  return { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version, tfjs: tf.version.tfjs };
}

function round(value: number): number {
  return Number(value.toFixed(1));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await benchTrain(JSON.parse(process.argv[2]) as TrainBenchOptions);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
