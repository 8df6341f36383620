// What run listeners are: typed hooks into the epoch/step loop, and what they can see of the run. Checkpointing, early
// stopping, the metrics file, progress and the report are listeners; precise-BN belongs in onTrainEpochEnd and onTrainEnd.

import type * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../config/train-config.ts';
import type { EpochRecord } from '../report/html-report.ts';
import type { Quarantine } from '../stream/quarantine.ts';
import type { Evaluation } from './metrics.ts';
import type { Phase } from './phases.ts';
import type { BestEpoch, ListenerStates, LoopPosition, RunState } from './run-state.ts';
import type { BackoffEvent, Trainer } from './trainer.ts';

export type { BackoffEvent } from './trainer.ts';

/** What a listener sees of the run (read-only: it changes the run only through its verdicts). */
export interface RunContext {
  readonly config: TrainConfig;
  readonly runDir: string;
  readonly model: tf.LayersModel;
  readonly classes: readonly string[];
  readonly phases: readonly Phase[];
  readonly totalEpochs: number;
  /** Optimizer updates in one epoch (for schedules and the ETA). */
  readonly stepsPerEpoch: number;
  /** The files set aside with a reason so far (training and validation, each file once), written to quarantine.jsonl. */
  readonly quarantine: Quarantine;
  /** How many files the run has quarantined so far: `quarantine.count`, what progress lines and the report show. */
  readonly quarantined: number;
  /** Live readings of the data pipeline (the prefetch queue). */
  readonly gauges: ReadonlyMap<string, () => unknown>;
  /** The current phase's trainer; undefined between phases. */
  readonly trainer: Trainer | undefined;
  readonly position: Readonly<LoopPosition>;
  readonly steps: number;
  readonly history: readonly EpochRecord[];
  readonly best: BestEpoch | null;
  readonly stopReason: string | null;
  /** The checkpoint folder this run resumed from, if it did. */
  readonly resumedFrom: string | undefined;
  /** Everything needed to continue the run: the loop's own state and every listener's. */
  snapshot(): RunState;
  /** A line for people (the progress reporter), with fields for machines. */
  message(text: string, fields?: Record<string, unknown>): void;
}

/** One optimizer update. */
export interface StepEvent {
  phase: number;
  epoch: number;
  /** Optimizer updates so far, over the whole run. */
  step: number;
  /** Micro-batches of this epoch trained so far. */
  batchInEpoch: number;
  /** Mean loss over the update's samples. */
  loss: number;
  samples: number;
  learningRate: number;
  /** Training throughput of this epoch so far. */
  imagesPerSec: number;
}

/** An epoch trained and validated. */
export interface EpochEvent {
  phase: number;
  epoch: number;
  record: EpochRecord;
  evaluation: Evaluation;
  /** Set for onEpochEnd, after every verdict: whether this epoch is now the best. */
  best?: boolean;
}

/** What a judging listener says about a validated epoch. */
export interface EpochVerdict {
  /** Whether this epoch is the best so far; the loop takes every epoch as best unless a listener judges it. */
  best?: boolean;
  /** Ends the run after this epoch, with this reason. */
  stop?: string;
}

/**
 * Hooks, in the order the loop calls them. Every hook may be async; listeners run in the order given, one at a time.
 * A listener with state has a `name` (its key in the run state) and `state()`/`loadState()`, as Lightning's callbacks do.
 */
export interface RunListener {
  readonly name?: keyof ListenerStates;
  /** Whether its onValidationEnd verdicts decide the best epoch (early stopping does). */
  readonly judgesBest?: boolean;
  onRunStart?(run: RunContext): void | Promise<void>;
  onPhaseStart?(run: RunContext, phase: Phase, index: number): void | Promise<void>;
  onStep?(run: RunContext, step: StepEvent): void | Promise<void>;
  onBackoff?(run: RunContext, event: BackoffEvent): void | Promise<void>;
  /** The epoch's training batches are done, validation comes next: where precise-BN recomputes statistics. */
  onTrainEpochEnd?(run: RunContext, epoch: number): void | Promise<void>;
  /** Judges the validated epoch. */
  onValidationEnd?(run: RunContext, event: EpochEvent): EpochVerdict | undefined | Promise<EpochVerdict | undefined>;
  /** After every verdict: `event.best`, `run.best` and `run.stopReason` are final, `run.position` is the next epoch. */
  onEpochEnd?(run: RunContext, event: EpochEvent): void | Promise<void>;
  /** The stop signal arrived; `run.position` is where training stopped. */
  onInterrupt?(run: RunContext, reason: string): void | Promise<void>;
  /** Training is over (not interrupted), before the model is saved: restore the best weights, recompute statistics. */
  onTrainEnd?(run: RunContext): void | Promise<void>;
  /** The run is over and `summary` is what it returns. */
  onRunEnd?(run: RunContext, summary: RunSummary): void | Promise<void>;
  state?(): ListenerStates[keyof ListenerStates];
  loadState?(state: unknown): void;
}

/** A listener whose state travels in checkpoints under `name`. */
export interface StatefulListener<Name extends keyof ListenerStates> extends RunListener {
  readonly name: Name;
  state(): NonNullable<ListenerStates[Name]>;
  loadState(state: NonNullable<ListenerStates[Name]>): void;
}

export interface RunSummary {
  runDir: string;
  status: 'completed' | 'stopped-early' | 'interrupted';
  backend: string;
  epochs: number;
  stoppedEarly: boolean;
  /** Optimizer updates over the whole run. */
  steps: number;
  bestEpoch: number | null;
  valAccuracy: number | null;
  valLoss: number | null;
  numTensorsStart: number;
  numTensorsEnd: number;
  reportPath: string;
  fromScratch: boolean;
  /** Files quarantined over the whole run (each once); their reasons are in `<runDir>/quarantine.jsonl`. */
  quarantined: number;
  signal?: string;
  [extra: string]: unknown;
}
