// Benchmark: full training steps (forward, backward, Adam) of an EfficientNet, after a warm-up, on one backend;
// optionally beside a baseline backend and PyTorch measured in the same run.

import { execFile, execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { type BackendInfo, selectBackend } from '../src/backend/ladder.ts';
import { countDispatches, type DispatchCounts } from '../src/backend/webgpu-dispatch-count.ts';
import { gpuBytes, withPeakGpuBytes } from '../src/backend/webgpu-memory.ts';
import type { Batch } from '../src/data/samples.ts';
import { createModel } from '../src/models/create-model.ts';
import { Trainer } from '../src/train/trainer.ts';
import { resolveWorkerSlots } from '../src/train/workers/worker-slots.ts';

export interface TrainBenchOptions {
  backend?: string;
  model: string;
  imageSize: number;
  /** Samples per step (one micro-batch, no accumulation). */
  batchSize: number;
  steps: number;
  /** The trainer's backward pass (default: the trainer's, lean). */
  backward?: 'lean' | 'autodiff';
  recompute?: boolean;
  /** Data-parallel workers (wasm, cpu): the batch is split into as many micro-batches, one per worker. Default 1. */
  workers?: number;
  /** Also time one worker (the whole batch in one pass in this thread), alternating step by step with the workers. */
  workersBaseline?: boolean;
  /** Untimed steps first, at least one, until this many seconds have passed (default 5). */
  warmupSeconds?: number;
}

/** One worker's figures from the same run (`--workers-baseline 1`). */
export interface OneWorkerResult {
  microBatch: number;
  msPerStep: number;
  cpuMsPerStep: number;
  imagesPerSec: number;
}

export interface TrainBenchResult {
  backend: string;
  backward: 'lean' | 'autodiff';
  recompute: boolean;
  model: string;
  imageSize: number;
  batchSize: number;
  /** Workers, and the micro-batch each computes (batchSize / workers). */
  workers: number;
  microBatch: number;
  steps: number;
  /** Untimed steps before them (per trainer): V8 goes on optimizing the step's JavaScript for tens of steps. */
  warmupSteps: number;
  msPerStep: number;
  /** Process CPU time a step: steadier than wall time on a shared machine (wasm runs on one thread). */
  cpuMsPerStep: number;
  imagesPerSec: number;
  numTensorsBefore: number;
  numTensorsAfter: number;
  /** webgpu only: the adapter (as `streamfit backends` shows it), and GPU bytes held (pool included) before and after the
   * timed steps, and the peak in use during them. */
  adapter?: BackendInfo['adapter'];
  gpuBytesBefore?: number;
  gpuBytesAfter?: number;
  gpuPeakBytes?: number;
  /** webgpu only, per timed step: compute dispatches, queue submits, compute passes, buffers created (0 once warm), and the
   * programs with the most dispatches. On a fast GPU the step is bound by the host's cost per dispatch. */
  dispatchesPerStep?: number;
  submitsPerStep?: number;
  computePassesPerStep?: number;
  buffersCreatedPerStep?: number;
  topPrograms?: Record<string, number>;
  oneWorker?: OneWorkerResult;
  /** oneWorker.msPerStep / msPerStep: how much faster the workers are than one thread, in the same run. */
  speedupOverOneWorker?: number;
  /** os.loadavg() before and after: how busy the machine was. */
  loadAverage: { before: number[]; after: number[] };
}

/** A trainer with its model and a step's micro-batches, and its timings so far. */
interface TimedTrainer {
  trainer: Trainer;
  model: tf.LayersModel;
  microBatches: Batch[];
  ms: number;
  cpuMs: number;
}

async function timedTrainer(options: TrainBenchOptions, backend: BackendInfo, workers: number): Promise<TimedTrainer> {
  if (options.batchSize % workers !== 0)
    throw new Error(`--batch-size ${options.batchSize} does not split into ${workers} equal micro-batches (one per worker)`);
  const microBatch = options.batchSize / workers;
  const slots = resolveWorkerSlots(workers, backend.name, workers);
  const { model } = await createModel(options.model, { classes: 10, imageSize: options.imageSize, freeze: 'none', seed: 0 });
  const trainer = new Trainer({
    model,
    optimizer: { name: 'adam', lr: 1e-3 },
    accumulate: workers,
    backward: options.backward ?? 'lean',
    recompute: options.recompute ?? false,
    workers: slots,
  });
  const batch = syntheticBatch(options.batchSize, options.imageSize, 10);
  const microBatches = Array.from({ length: workers }, (_, i) => sliceRows(batch, i * microBatch, (i + 1) * microBatch));
  return { trainer, model, microBatches, ms: 0, cpuMs: 0 };
}

/** One optimizer step (its micro-batches), timed in wall and process CPU time (every thread's, workers' included). */
async function timedStep(timed: TimedTrainer, record = true): Promise<void> {
  const start = performance.now();
  const startCpu = process.cpuUsage();
  for (const microBatch of timed.microBatches) await timed.trainer.step(microBatch);
  const cpu = process.cpuUsage(startCpu);
  if (!record) return;
  timed.ms += performance.now() - start;
  timed.cpuMs += (cpu.user + cpu.system) / 1000;
}

/** Untimed steps, at least one, until `seconds` have passed; returns how many. */
async function warmUp(timed: TimedTrainer, seconds: number): Promise<number> {
  const start = performance.now();
  let steps = 0;
  do {
    await timedStep(timed, false);
    steps++;
  } while (performance.now() - start < seconds * 1000);
  return steps;
}

function sliceRows(batch: Batch, start: number, end: number): Batch {
  const sampleLength = batch.shape[1] * batch.shape[2] * batch.shape[3];
  const x = batch.x.slice(start * sampleLength, end * sampleLength);
  const y = batch.y.slice(start, end);
  return { ...batch, x, y, shape: [end - start, batch.shape[1], batch.shape[2], batch.shape[3]], bytes: x.byteLength + y.byteLength };
}

export function syntheticBatch(size: number, imageSize: number, classes: number): Batch {
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
  const loadBefore = loadavg();
  const backend = await selectBackend(options.backend);
  const backward = options.backward ?? 'lean';
  const recompute = options.recompute ?? false;
  const workers = options.workers ?? 1;
  const measured = await timedTrainer(options, backend, workers);
  const oneWorker = options.workersBaseline && workers > 1 ? await timedTrainer(options, backend, 1) : undefined;
  // Every step reads its loss back (one update a step), so the timings include the device finishing its work.
  // Warm-up: kernels compiled, optimizer slots made, the workers' models built, and V8's optimizing compiler done with the
  // step's JavaScript: on wasm at 64 px, batch 2, the first 25 steps took 1.3× the wall and 1.8× the CPU time (compiling on
  // another core) of steps 150 on; each worker thread compiles for itself, so a short warm-up weighs on workers most.
  const warmupSteps = await warmUp(measured, options.warmupSeconds ?? 5);
  if (oneWorker) await warmUp(oneWorker, options.warmupSeconds ?? 5);
  const numTensorsBefore = tf.memory().numTensors;
  const gpuBefore = gpuBytes();
  // With the one-worker baseline the two alternate step by step, so a change in the machine's load reaches both alike.
  const timedSteps = async () => {
    for (let step = 0; step < options.steps; step++) {
      if (oneWorker) await timedStep(oneWorker);
      await timedStep(measured);
    }
  };
  let dispatches: DispatchCounts | undefined;
  const { peakBytes } = await withPeakGpuBytes(async () => {
    if (backend.name === 'webgpu') dispatches = (await countDispatches(timedSteps)).counts;
    else await timedSteps();
  });
  const numTensorsAfter = tf.memory().numTensors;
  const gpuAfter = gpuBytes();
  const perStep = (timed: TimedTrainer) => ({ msPerStep: timed.ms / options.steps, cpuMsPerStep: timed.cpuMs / options.steps });
  const { msPerStep, cpuMsPerStep } = perStep(measured);
  let baseline: OneWorkerResult | undefined;
  if (oneWorker) {
    const one = perStep(oneWorker);
    baseline = {
      microBatch: options.batchSize,
      msPerStep: round(one.msPerStep),
      cpuMsPerStep: round(one.cpuMsPerStep),
      imagesPerSec: round((options.batchSize * 1000) / one.msPerStep),
    };
  }
  for (const timed of [measured, oneWorker]) {
    timed?.trainer.dispose();
    timed?.model.dispose();
  }
  return {
    backend: backend.name,
    backward,
    recompute,
    model: options.model,
    imageSize: options.imageSize,
    batchSize: options.batchSize,
    workers,
    microBatch: options.batchSize / workers,
    steps: options.steps,
    warmupSteps,
    msPerStep: round(msPerStep),
    cpuMsPerStep: round(cpuMsPerStep),
    imagesPerSec: round((options.batchSize * 1000) / msPerStep),
    numTensorsBefore,
    numTensorsAfter,
    ...(baseline ? { oneWorker: baseline, speedupOverOneWorker: Number((baseline.msPerStep / msPerStep).toFixed(2)) } : {}),
    loadAverage: { before: loadBefore.map(round2), after: loadavg().map(round2) },
    ...(backend.name === 'webgpu'
      ? { adapter: backend.adapter, gpuBytesBefore: gpuBefore?.allocated, gpuBytesAfter: gpuAfter?.allocated, gpuPeakBytes: peakBytes }
      : {}),
    ...(dispatches ? dispatchesPerStep(dispatches, options.steps) : {}),
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

/** `--ceiling`: the workers' micro-batches trained by as many processes side by side, each alone (`independent`). */
export interface IndependentResult {
  processes: number;
  microBatch: number;
  /** Each process's milliseconds a step. */
  msPerStep: number[];
  /** The slowest process's: a window of the workers waits for its slowest. */
  slowestMsPerStep: number;
  loadAverage: { before: number[]; after: number[] };
}

/**
 * The ceiling of data parallelism on this machine: `options.workers` copies of this benchmark, each timing one worker's
 * micro-batch in a process of its own, started together. Nothing is summed, updated or shared between them, so what they
 * lose against one process alone is the machine's (shared caches, memory bandwidth, the kernel's scheduling), not the
 * workers'. `entry` is the CLI (bin/streamfit.js, or the bundle a GPU box runs). A process that fails makes the result
 * `unavailable`, with its last line of error, and leaves the rest of the benchmark's figures standing.
 */
export async function benchIndependentProcesses(
  options: TrainBenchOptions & { backend: string },
  entry: string,
): Promise<IndependentResult | { processes: number; microBatch: number; unavailable: string }> {
  const processes = options.workers ?? 1;
  const microBatch = options.batchSize / processes;
  const args = [
    entry,
    ...['bench', 'train', '--backend', options.backend, '--model', options.model],
    ...['--image-size', String(options.imageSize), '--batch-size', String(microBatch), '--steps', String(options.steps)],
    ...['--warmup-seconds', String(options.warmupSeconds ?? 5)],
    ...['--backward', options.backward ?? 'lean', ...(options.recompute ? ['--recompute'] : []), '--json'],
  ];
  const before = loadavg();
  const runs = await Promise.allSettled(
    Array.from({ length: processes }, () =>
      promisify(execFile)(process.execPath, [...process.execArgv, ...args], { encoding: 'utf8', maxBuffer: 2 ** 24 }),
    ),
  );
  const failed = runs.find((run) => run.status === 'rejected');
  if (failed) {
    const error = failed.reason as Error & { stderr?: string };
    // Its error line (streamfit's own, or an uncaught one's), not the stack or Node's version line after it.
    const lines = String(error.stderr ?? '')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !/^Node\.js v/.test(line));
    const reason = lines.find((line) => /^(\w*Error( \[\w+\])?|streamfit):/.test(line)) ?? lines.at(-1) ?? error.message.split('\n')[0];
    return { processes, microBatch, unavailable: `a side-by-side process failed: ${reason}` };
  }
  const msPerStep = runs.map(
    (run) =>
      (JSON.parse((run as PromiseFulfilledResult<{ stdout: string }>).value.stdout.trim().split('\n').pop()!) as TrainBenchResult)
        .msPerStep,
  );
  return {
    processes,
    microBatch,
    msPerStep,
    slowestMsPerStep: Math.max(...msPerStep),
    loadAverage: { before: before.map(round2), after: loadavg().map(round2) },
  };
}

export interface PytorchResult {
  msPerStep: number;
  /** Process CPU time a step, all threads (the first precision's). */
  cpuMsPerStep?: number;
  imagesPerSec: number;
  version: string;
  device: string;
  deviceName: string;
  threads: number;
  results: Array<{ precision: string; msPerStep?: number; imagesPerSec?: number; peakBytes?: number; unavailable?: string }>;
}

/**
 * PyTorch's torchvision EfficientNet of the same variant, batch and size, in a child process: on the CPU's cores, or on
 * the GPU (`device: 'auto'`, fp32 eager and autocast) when streamfit runs on one. PYTHON picks the interpreter.
 */
export function benchPytorch(options: TrainBenchOptions, device: 'cpu' | 'auto' = 'cpu'): PytorchResult | { unavailable: string } {
  const script = fileURLToPath(new URL('./pytorch_train.py', import.meta.url));
  const python = pythonWithTorch();
  try {
    const output = execFileSync(
      python,
      [
        script,
        ...['--model', options.model, '--image-size', String(options.imageSize), '--batch', String(options.batchSize)],
        ...['--steps', String(options.steps), '--threads', String(pytorchThreads(options)), '--device', device],
        ...['--precision', device === 'cpu' ? 'fp32' : 'fp32,amp'],
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 2 ** 24 },
    );
    return JSON.parse(output.trim().split('\n').pop()!);
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '')
      .trim()
      .split('\n')
      .pop();
    return {
      unavailable: `PyTorch baseline not run (${stderr || (error as Error).message.split('\n')[0]}); on a CPU box install it with apt-get install python3-torchvision`,
    };
  }
}

/** PyTorch gets the cores streamfit is given: one per worker with --workers, else every core (tfjs-node uses them all). */
function pytorchThreads(options: TrainBenchOptions): number {
  return options.workers && options.workers > 1 ? options.workers : availableParallelism();
}

/** $PYTHON, else the first of python3 on the PATH and Debian's /usr/bin/python3 that imports torch (pyenv shims come first). */
function pythonWithTorch(): string {
  if (process.env.PYTHON) return process.env.PYTHON;
  for (const candidate of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(candidate, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
      return candidate;
    } catch {}
  }
  return 'python3';
}

export function machine(): Record<string, unknown> {
  return { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version, tfjs: tf.version.tfjs };
}

function dispatchesPerStep(counts: DispatchCounts, steps: number): Partial<TrainBenchResult> {
  const per = (value: number) => round(value / steps);
  return {
    dispatchesPerStep: per(counts.dispatches),
    submitsPerStep: per(counts.submits),
    computePassesPerStep: per(counts.computePasses),
    buffersCreatedPerStep: per(counts.buffersCreated),
    topPrograms: Object.fromEntries(
      Object.entries(counts.byProgram)
        .slice(0, 8)
        .map(([name, count]) => [name, per(count)]),
    ),
  };
}

function round(value: number): number {
  return Number(value.toFixed(1));
}

function round2(value: number): number {
  return Number(value.toFixed(2));
}

// Run as a script (benchTrainInChild), not when bundled into the CLI, whose file is then argv[1] too.
if (import.meta.url.endsWith('/bench/train.ts') && import.meta.url === `file://${process.argv[1]}`) {
  const result = await benchTrain(JSON.parse(process.argv[2]) as TrainBenchOptions);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
