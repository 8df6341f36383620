// What the sweep controller asks of an executor: run one rung's trials to its epochs, wherever they run, and say how each
// ended. Executors decide only where a trial runs; every trial is the same `streamfit train` run in its folder (trial.ts).

import type { TrialRecord } from './results.ts';
import type { Interrupted, TrialResult } from './trial.ts';

export interface Rung {
  /** 0-based position in the rung ladder. */
  index: number;
  /** Every trial of the rung trains up to this many epochs, continuing from its checkpoint. */
  epochs: number;
  trials: TrialRecord[];
}

/** How a trial's run ended: a result (success or failure with its reason), or an interruption to resume later. */
export type TrialOutcome = TrialResult | Interrupted;

export const isInterrupted = (outcome: TrialOutcome): outcome is Interrupted => 'interrupted' in outcome;

export interface TrialExecutor {
  readonly name: 'local' | 'slurm';
  /** Called once before the first rung (the Slurm executor checks that no other controller runs the sweep). */
  start?(): Promise<void>;
  /**
   * Runs the rung's trials (their overrides.json already written) and reports each outcome as it comes. Resolves when every
   * trial has one. When `signal` aborts, running trials are asked to checkpoint and stop, and end as interrupted.
   */
  runRung(rung: Rung, signal: AbortSignal, onOutcome: (id: string, outcome: TrialOutcome) => void): Promise<void>;
}
