// The messages between the main thread and a training worker.

import type { BackoffEvent, TrainerOptions } from '../trainer.ts';
import type { SharedBatch } from './shared-batch.ts';
import type { WeightsLayout } from './shared-weights.ts';
import type { WorkerSlot } from './worker-slots.ts';

/** The trainer options a worker takes over (plain data; the optimizer, l1/l2 and the schedule stay on the main thread). */
export type WorkerTrainerOptions = Pick<
  TrainerOptions,
  'labelSmoothing' | 'memoryBudgetBytes' | 'maxBackoffs' | 'recompute' | 'backward' | 'seed' | 'optimizer'
>;

/** What a worker starts from (its workerData). */
export interface WorkerStart {
  index: number;
  slot: WorkerSlot;
  /** The model's topology (LayersModel.toJSON), trainable flags included: the worker builds the same layers. */
  topology: object;
  weights: { buffer: SharedArrayBuffer; layout: WeightsLayout };
  /** Every worker's gradient slot (this one's at `index`): the summed gradients of model.trainableWeights, then the moving statistics. */
  slotBuffers: SharedArrayBuffer[];
  /** The window's gradient sum over the workers, each worker summing its share of the elements (a 'reduce'). */
  sumBuffer: SharedArrayBuffer;
  /** Indices (model.weights order) of the BatchNorm moving statistics, written after the gradients. */
  statistics: number[];
  /** Indices (model.weights order) of the weights a window can change (trainable ones and moving statistics). */
  changing: number[];
  /** Shapes of model.trainableWeights, checked against the worker's build. */
  trainableShapes: number[][];
  trainer: WorkerTrainerOptions;
  /** The module to load in the worker thread (training-worker.ts), resolved by the main thread. */
  entry: string;
}

export type ToWorker =
  | {
      type: 'train';
      id: number;
      batch: SharedBatch;
      /** Where the micro-batch sits in the run, for its dropout masks: the same seeds as the single-thread trainer's. */
      optimizerStep: number;
      indexInWindow: number;
      chunks: number;
      /** The weights' version: a worker that has an older one loads the shared weights first. */
      weightsVersion: number;
    }
  /** Writes the summed gradients and moving statistics of the micro-batches since the last collect into the slot, and starts again from zero. */
  | { type: 'collect'; id: number }
  /**
   * Sums elements [start, end) of the gradient slots of `workers` (in that order) into the shared sum: every worker one
   * share, at once, instead of the main thread summing every slot alone.
   */
  | { type: 'reduce'; id: number; workers: number[]; start: number; end: number }
  /** Drops what was summed since the last collect and reloads the shared weights (a window being retried). */
  | { type: 'reset'; id: number; weightsVersion: number }
  /** Fault tests: the next request of this type fails with this message (an out-of-memory abort, say). */
  | { type: 'fail-next'; id: number; request: 'train' | 'collect'; message: string };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'start-failed'; message: string }
  | { type: 'trained'; id: number; chunks: number; backoffs: BackoffEvent[] }
  | { type: 'collected'; id: number; lossSum: number; correct: number; samples: number }
  | { type: 'reduced'; id: number }
  | { type: 'reset-done'; id: number }
  | { type: 'armed'; id: number }
  | { type: 'failed'; id: number; message: string; outOfMemory: boolean };
