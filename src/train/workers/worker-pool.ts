// The data-parallel workers of one trainer: hands each micro-batch of a window to worker (index in window mod N), has the
// workers sum their gradient slots in worker order, each a share of the elements (the same result whatever the timing or
// the shares), averages their BatchNorm moving statistics, and replaces a worker that died so the window can be
// computed again.

import type * as tf from '@tensorflow/tfjs';
import type { Batch } from '../../data/samples.ts';
import type { BackoffEvent } from '../trainer.ts';
import { type SharedBatch, toSharedBatch } from './shared-batch.ts';
import { SharedWeights, weightsLayout } from './shared-weights.ts';
import { slotShares } from './slot-sum.ts';
import { assignVariable } from './tensor-memory.ts';
import type { WorkerStart, WorkerTrainerOptions } from './worker-messages.ts';
import { type WorkerSlot, workerEntry } from './worker-slots.ts';
import { WorkerThread } from './worker-thread.ts';

export { WorkerFailed, WorkerLost } from './worker-thread.ts';

/** The window's sums over every worker: gradients of model.trainableWeights (flat, in order), loss, correct, samples. */
export interface WindowSums {
  gradients: Float32Array;
  lossSum: number;
  correct: number;
  samples: number;
}

/** A micro-batch of the window not yet collected: kept until then, so that a lost worker's share can be computed again. */
interface PendingBatch {
  batch: SharedBatch;
  optimizerStep: number;
  indexInWindow: number;
  /** Its worker's last micro-batch of the window. */
  last: boolean;
  done?: Promise<void>;
}

export interface WorkerPoolHooks {
  /** A worker's own out-of-memory backoff (its micro-batch now runs in `event.chunks` chunks). */
  onBackoff?: (event: BackoffEvent) => void;
}

export class WorkerPool {
  private readonly threads: WorkerThread[];
  private readonly weights: SharedWeights;
  private weightsVersion = 0;
  private readonly slotBuffers: SharedArrayBuffer[];
  private readonly statistics: number[];
  /** Weights a window changes (trainable ones and moving statistics): the only ones shared again after the first time. */
  private readonly changing: number[];
  private published = false;
  private readonly gradientLength: number;
  /** The window's gradient sum, reused from window to window; shared, since the workers write it. */
  private readonly sum: Float32Array;
  private readonly starts: WorkerStart[];
  /** model.weights, gathered once (the getter walks every layer). */
  private readonly modelWeights: tf.LayerVariable[];
  private pending: PendingBatch[] = [];
  /** The largest chunk count a worker reported (its own backoffs). */
  chunks = 1;

  constructor(
    model: tf.LayersModel,
    readonly slots: readonly WorkerSlot[],
    trainer: WorkerTrainerOptions,
    private readonly hooks: WorkerPoolHooks = {},
  ) {
    this.modelWeights = model.weights;
    const layout = weightsLayout(model);
    this.weights = SharedWeights.allocate(layout);
    const trainable = new Set(model.trainableWeights);
    this.statistics = model.weights.flatMap((weight, i) =>
      !trainable.has(weight) && /moving_(mean|variance)$/.test(weight.originalName) ? [i] : [],
    );
    const size = (shape: readonly (number | null)[]) => shape.reduce<number>((product, extent) => product * (extent ?? 1), 1);
    this.gradientLength = model.trainableWeights.reduce((sum, weight) => sum + size(weight.shape), 0);
    const sumBuffer = new SharedArrayBuffer(this.gradientLength * 4);
    this.sum = new Float32Array(sumBuffer);
    this.changing = model.weights.flatMap((weight, i) => (trainable.has(weight) || this.statistics.includes(i) ? [i] : []));
    const statisticsLength = this.statistics.reduce((sum, i) => sum + size(layout.shapes[i]), 0);
    this.slotBuffers = slots.map(() => new SharedArrayBuffer((this.gradientLength + statisticsLength) * 4));
    const topology = model.toJSON(undefined, false) as object;
    this.starts = slots.map((slot, index) => ({
      index,
      slot,
      topology,
      weights: { buffer: this.weights.buffer, layout },
      slotBuffers: this.slotBuffers,
      sumBuffer,
      statistics: this.statistics,
      changing: this.changing,
      trainableShapes: model.trainableWeights.map((weight) => [...weight.shape] as number[]),
      trainer,
      entry: workerEntry.href,
    }));
    this.threads = this.starts.map((start, index) => new WorkerThread(index, start));
  }

  get size(): number {
    return this.threads.length;
  }

  /**
   * Hands a micro-batch to its worker (copied into shared memory); resolves once handed, not once computed. `accumulate`
   * (the window's micro-batches) tells which is a worker's last of the window: its collect is queued right behind it.
   */
  async submit(
    batch: Batch,
    position: { optimizerStep: number; indexInWindow: number },
    chunks: number,
    accumulate: number,
  ): Promise<void> {
    // The first micro-batch since the last collect: the workers load the main thread's weights (after the update, or
    // whatever changed them since, such as precise BN) before computing it.
    if (this.pending.length === 0) await this.publishWeights();
    const pending: PendingBatch = {
      batch: toSharedBatch(batch),
      ...position,
      last: position.indexInWindow + this.threads.length >= accumulate,
    };
    this.pending.push(pending);
    this.dispatch(pending, chunks);
  }

  private dispatch(pending: PendingBatch, chunks: number): void {
    const thread = this.threads[pending.indexInWindow % this.threads.length];
    thread.batches++;
    const { batch, optimizerStep, indexInWindow } = pending;
    pending.done = thread
      .request<'trained'>({ type: 'train', batch, optimizerStep, indexInWindow, chunks, weightsVersion: this.weightsVersion })
      .then((reply) => {
        this.chunks = Math.max(this.chunks, reply.chunks);
        for (const event of reply.backoffs) this.hooks.onBackoff?.(event);
      });
    pending.done.catch(() => {}); // collect() awaits it and handles the failure
    if (pending.last) {
      thread.collecting = thread.request<'collected'>({ type: 'collect' });
      thread.collecting.catch(() => {});
    }
  }

  /** Samples per micro-batch of the window not yet collected (the largest), for the backoff's chunk size. */
  get pendingMicroBatch(): number {
    return Math.max(0, ...this.pending.map((pending) => pending.batch.shape[0]));
  }

  /**
   * Waits for the window's micro-batches, has the workers sum their slots in worker order and averages the BatchNorm
   * moving statistics of the workers that trained into the main thread's model. Throws WorkerLost when a worker died;
   * then retry() computes the same micro-batches again.
   */
  async collect(): Promise<WindowSums> {
    await Promise.all(this.pending.map((pending) => pending.done));
    const contributing = this.threads.filter((thread) => thread.batches > 0);
    const collects = contributing.map((thread) => thread.collecting ?? thread.request<'collected'>({ type: 'collect' }));
    for (const collect of collects) collect.catch(() => {}); // each is awaited below, in order
    const sums: WindowSums = { gradients: this.sum, lossSum: 0, correct: 0, samples: 0 };
    for (const collect of collects) {
      const reply = await collect;
      sums.lossSum += reply.lossSum;
      sums.correct += reply.correct;
      sums.samples += reply.samples;
    }
    await this.reduce(contributing);
    this.averageStatistics(contributing.map((thread) => thread.index));
    this.pending = [];
    for (const thread of this.threads) {
      thread.batches = 0;
      thread.collecting = undefined;
    }
    return sums;
  }

  /**
   * The gradient slots of the workers that trained, summed in worker order into the shared sum. Each of them sums one
   * share of the elements (a summation on the main thread alone grows with the workers and leaves them idle).
   */
  private async reduce(contributing: WorkerThread[]): Promise<void> {
    if (contributing.length === 0) return void this.sum.fill(0);
    const workers = contributing.map((thread) => thread.index);
    if (workers.length === 1) return void this.sum.set(new Float32Array(this.slotBuffers[workers[0]], 0, this.gradientLength));
    const shares = slotShares(this.gradientLength, contributing.length);
    await Promise.all(
      contributing.map((thread, k) => thread.request<'reduced'>({ type: 'reduce', workers, start: shares[k][0], end: shares[k][1] })),
    );
  }

  /**
   * Every trained worker started from the shared statistics m and moved them to its own w_k: the model gets
   * m + Σ (w_k − m) / K, summed in worker order (unchanged statistics, such as frozen BatchNorm's, stay bit for bit).
   */
  private averageStatistics(workers: number[]): void {
    if (workers.length === 0 || this.statistics.length === 0) return;
    const slots = workers.map((worker) => new Float32Array(this.slotBuffers[worker]));
    let offset = this.gradientLength;
    for (const index of this.statistics) {
      const variable = this.modelWeights[index];
      const base = this.weights.slice(index); // what the workers loaded at the window's start
      const averaged = new Float32Array(base.length);
      for (let j = 0; j < base.length; j++) {
        let moved = 0;
        for (const slot of slots) moved += slot[offset + j] - base[j];
        averaged[j] = base[j] + moved / slots.length;
      }
      assignVariable(variable.read() as tf.Variable, averaged);
      offset += base.length;
    }
  }

  /** Replaces the workers that died, clears the others' sums and hands every micro-batch of the window out again. */
  async retry(chunks: number): Promise<void> {
    await Promise.all(this.pending.map((pending) => pending.done?.catch(() => {})));
    for (const [index, thread] of this.threads.entries()) {
      if (thread.alive) continue;
      void thread.terminate();
      this.threads[index] = new WorkerThread(index, this.starts[index]);
    }
    await Promise.all(this.threads.map((thread) => thread.request<'reset-done'>({ type: 'reset', weightsVersion: this.weightsVersion })));
    for (const thread of this.threads) {
      thread.batches = 0;
      thread.collecting = undefined;
    }
    for (const pending of this.pending) this.dispatch(pending, chunks);
  }

  private async publishWeights(): Promise<void> {
    this.weights.write(this.modelWeights, this.published ? this.changing : undefined);
    this.published = true;
    this.weightsVersion++;
  }

  /** Resolves once every worker has built its model (or rejects with the first that could not). */
  async started(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.ready));
  }

  /** Makes a worker's next request of that type fail with `message` (fault tests: a wasm heap that ran out, say). */
  async failNext(index: number, request: 'train' | 'collect', message: string): Promise<void> {
    await this.threads[index].request<'armed'>({ type: 'fail-next', request, message });
  }

  /** Ends a worker's thread as a crash would (fault tests). */
  terminateWorker(index: number): Promise<number> {
    return this.threads[index].terminate();
  }

  /** Ends every worker's thread. */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.terminate()));
  }
}
