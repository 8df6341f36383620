// The typed, versioned state a checkpoint carries besides tensors: where the loop is, what it has seen, and each listener's
// own state. A checkpoint whose version this code does not know is refused, never guessed at.

import { DataError } from '../errors.ts';
import type { EpochRecord } from '../report/html-report.ts';
import type { EarlyStoppingState } from './early-stopping.ts';
import type { Evaluation } from './metrics.ts';

/** Bump when RunState changes shape; readers refuse any other version. */
export const runStateVersion = 1;

/** Where the loop is: continuing means training `epoch` from micro-batch `batchInEpoch` on. */
export interface LoopPosition {
  /** The phase whose optimizer state the checkpoint holds. */
  phase: number;
  epoch: number;
  /** Micro-batches of `epoch` already trained. */
  batchInEpoch: number;
  optimizerStep: number;
  /** Chunks each micro-batch runs in (out-of-memory backoffs so far). */
  chunks: number;
}

/** The best epoch so far (by the early-stopping metric, else the latest) and its evaluation, for the report and summary. */
export interface BestEpoch {
  epoch: number;
  evaluation: Evaluation;
}

/**
 * State of the listeners that keep some, by name. A listener that needs a new field adds it here (declaration merging
 * from its own module works too), so the checkpoint stays typed end to end.
 */
export interface ListenerStates {
  earlyStopping?: EarlyStoppingState;
}

export interface RunState {
  version: typeof runStateVersion;
  position: LoopPosition;
  /** Optimizer updates so far, over the whole run. */
  steps: number;
  history: EpochRecord[];
  best: BestEpoch | null;
  /** Why a listener ended the run before its last epoch (early stopping), or null. */
  stopReason: string | null;
  listeners: ListenerStates;
}

/** Checks the version and shape of a run state read from `file`. */
export function parseRunState(value: unknown, file: string): RunState {
  const state = value as Partial<RunState> | undefined;
  if (state?.version === undefined)
    throw new DataError(file, `has no run-state version: written by an older streamfit (this one reads version ${runStateVersion})`);
  if (state.version !== runStateVersion)
    throw new DataError(file, `run-state version ${JSON.stringify(state.version)} is not one this streamfit reads (${runStateVersion})`);
  for (const field of ['position', 'steps', 'history', 'best', 'stopReason', 'listeners'] as const)
    if (state[field] === undefined) throw new DataError(file, `run state lacks '${field}'`);
  return state as RunState;
}
