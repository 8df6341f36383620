// How many data-parallel training workers a run gets, and on which backend each runs: `workers` ('auto' or N) resolved
// against the backend and the micro-batches of an update.

import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { BackendName } from '../../backend/ladder.ts';
import { ConfigError } from '../../errors.ts';

/** The backends a worker thread can run: each worker starts its own instance (a wasm heap of its own, or tfjs' cpu). */
export const workerBackends = ['wasm', 'cpu'] as const;
export type WorkerBackend = (typeof workerBackends)[number];

/**
 * One worker's place: the backend it starts and, for backends that have several, the device. Only wasm and cpu take
 * workers today; the slot keeps the choice per worker so that several GPUs (one worker each) need no other shape.
 */
export interface WorkerSlot {
  backend: WorkerBackend;
  device?: string;
}

/**
 * The workers of a run: `auto` is the physical cores on wasm and cpu and 1 elsewhere; either way no more than the
 * micro-batches of an update, since a worker computes whole micro-batches. An explicit N > 1 on a backend that cannot
 * start one instance per thread (webgpu, tfjs-node) or with fewer micro-batches than workers is refused, naming the field.
 * One worker is the in-process trainer: no thread is started.
 */
export function resolveWorkerSlots(requested: 'auto' | number, backend: BackendName, accumulate: number): WorkerSlot[] {
  const parallel = (workerBackends as readonly string[]).includes(backend);
  if (requested !== 'auto' && requested > 1 && !workersAvailable())
    throw new ConfigError(
      'workers',
      `got ${requested}; this build of streamfit has no worker module (${fileURLToPath(workerBootstrap)}): a bundle without it trains in one thread`,
    );
  if (requested === 'auto') {
    if (!workersAvailable()) return slots(1, backend);
    const count = parallel ? Math.max(1, Math.min(physicalCores(), accumulate)) : 1;
    return slots(count, backend);
  }
  if (requested > 1 && !parallel)
    throw new ConfigError(
      'workers',
      `got ${requested}; data-parallel workers run on the wasm and cpu backends only (one instance each), and this run uses ${backend}, which uses the device's own parallelism: set workers to 1 or auto`,
    );
  if (requested > accumulate)
    throw new ConfigError(
      'workers',
      `got ${requested}, but an update has ${accumulate} micro-batch${accumulate === 1 ? '' : 'es'} (batchSize / microBatch) and a worker computes whole micro-batches: lower microBatch so that batchSize / microBatch ≥ ${requested}, or use fewer workers`,
    );
  return slots(requested, backend);
}

/**
 * What to pass to train on the idle cores, when `auto` got one worker only because the micro-batch is the whole batch:
 * the largest micro-batch of at least 4 samples (below that, B0's fixed cost a micro-batch outweighs the second core)
 * that splits the batch across up to the physical cores. Not taken by itself: BatchNorm normalizes each micro-batch by
 * its own statistics, so the split changes what is learned.
 */
export function idleCoresHint(
  requested: 'auto' | number,
  backend: BackendName,
  config: { batchSize: number; microBatch: number },
  cores = physicalCores(),
): string | undefined {
  const parallel = (workerBackends as readonly string[]).includes(backend) && workersAvailable();
  if (requested !== 'auto' || !parallel || config.microBatch !== config.batchSize) return undefined;
  for (let workers = Math.min(cores, Math.floor(config.batchSize / 4)); workers > 1; workers--) {
    if (config.batchSize % workers !== 0) continue;
    const microBatch = config.batchSize / workers;
    return `1 of ${cores} cores trains: --micro-batch ${microBatch} would run ${workers} workers (BatchNorm then normalizes each micro-batch of ${microBatch} by its own statistics)`;
  }
  return undefined;
}

function slots(count: number, backend: BackendName): WorkerSlot[] {
  const workerBackend = (workerBackends as readonly string[]).includes(backend) ? (backend as WorkerBackend) : 'wasm';
  return Array.from({ length: count }, () => ({ backend: workerBackend }));
}

/**
 * Physical cores this process may use: distinct (package, core) pairs in /proc/cpuinfo, at most os.availableParallelism()
 * (which honours the CPU affinity mask). Where /proc/cpuinfo says nothing (not Linux), availableParallelism() itself.
 * A hyperthread's sibling adds little to a compute-bound wasm step, so auto counts cores, not threads.
 */
export function physicalCores(): number {
  const logical = availableParallelism();
  try {
    const pairs = new Set<string>();
    for (const processor of readFileSync('/proc/cpuinfo', 'utf8').split('\n\n')) {
      const physical = /^physical id\s*:\s*(\d+)/m.exec(processor)?.[1];
      const core = /^core id\s*:\s*(\d+)/m.exec(processor)?.[1];
      if (physical !== undefined && core !== undefined) pairs.add(`${physical}:${core}`);
    }
    return pairs.size > 0 ? Math.min(pairs.size, logical) : logical;
  } catch {
    return logical;
  }
}

/** The worker thread's bootstrap (registers tsx in the thread; in a bundle, the bundled worker itself) and its TypeScript module. */
export const workerBootstrap = new URL('./training-worker.mjs', import.meta.url);
export const workerEntry = new URL('./training-worker.ts', import.meta.url);

/**
 * Whether the worker's files are there. A bundle made without them trains in one thread; bench/gpu-pack.sh bundles the
 * worker itself as training-worker.mjs, beside the code that starts it.
 */
export function workersAvailable(): boolean {
  return existsSync(fileURLToPath(workerBootstrap));
}
