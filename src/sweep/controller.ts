// The sweep controller: samples the trials, runs each successive-halving rung through an executor, promotes the best, and
// writes the results. Every decision is replayed from sweep.json, so running the same sweep again resumes it where it stopped.

import { resolve } from 'node:path';
import type { SweepConfig } from '../config/sweep-config.ts';
import { claimOutputFolder } from '../train/output-folder.ts';
import { isInterrupted, type TrialExecutor, type TrialOutcome } from './executor.ts';
import { promote, rungEpochs } from './halving.ts';
import { LocalExecutor } from './local-executor.ts';
import { type TrialRecord, writeSweepResults } from './results.ts';
import { SlurmExecutor, sweepJobName } from './slurm-executor.ts';
import type { SearchSpace } from './space.ts';
import { loadOrCreateState, type SweepState, saveState, type TrialLaunch } from './sweep-state.ts';
import { prepareTrial, readTrialResult } from './trial.ts';

export interface SweepSpec {
  config: SweepConfig;
  space: SearchSpace;
  launch: TrialLaunch;
  /** Seeds the sampling of a random search. */
  seed: number;
  /** Epochs of the last rung: the run config's. */
  maxEpochs: number;
  /** The run config every trial shares, for best.json and the report. */
  sharedConfig: Record<string, unknown>;
  log: (line: string) => void;
  /** Aborting stops the sweep: running trials checkpoint and the state is saved for a re-run. */
  signal?: AbortSignal;
  /** Defaults to the one config.executor names. */
  executor?: TrialExecutor;
}

export interface SweepSummary {
  sweepDir: string;
  executor: string;
  metric: string;
  status: 'completed' | 'interrupted';
  trials: Array<Pick<TrialRecord, 'id' | 'params' | 'status' | 'metric' | 'epochs' | 'reason' | 'jobId' | 'node'>>;
  best: Pick<TrialRecord, 'id' | 'params' | 'metric'> | null;
  failed: number;
}

export function createExecutor(spec: Pick<SweepSpec, 'config' | 'launch' | 'log'>): TrialExecutor {
  const sweepDir = resolve(spec.config.out);
  if (spec.config.executor === 'slurm')
    return new SlurmExecutor({ sweepDir, launch: spec.launch, slurm: spec.config.slurm, jobName: sweepJobName(sweepDir), log: spec.log });
  return new LocalExecutor({ sweepDir, launch: spec.launch, concurrency: spec.config.concurrency });
}

export async function runSweep(spec: SweepSpec): Promise<SweepSummary> {
  const sweepDir = resolve(spec.config.out);
  const signal = spec.signal ?? new AbortController().signal;
  const executor = spec.executor ?? createExecutor(spec);
  // The sweep folder is claimed like a run's (a marker, a lock): a second controller on the same sweep is refused at once.
  const data = typeof spec.sharedConfig.data === 'string' ? spec.sharedConfig.data : undefined;
  const claim = claimOutputFolder(sweepDir, 'sweep', { data, resume: true });
  try {
    return await runRungs(spec, sweepDir, signal, executor);
  } finally {
    claim.release();
  }
}

async function runRungs(spec: SweepSpec, sweepDir: string, signal: AbortSignal, executor: TrialExecutor): Promise<SweepSummary> {
  const { config, log } = spec;
  await executor.start?.();
  const state = loadOrCreateState(sweepDir, spec.space, config.trials, spec.seed, spec.launch);
  const metric = spec.launch.metric;
  const higherIsBetter = metric === 'valAccuracy';
  const rungs = rungEpochs(Math.min(config.minEpochs, spec.maxEpochs), spec.maxEpochs, config.eta);
  const where = executor.name === 'slurm' ? 'one job array a rung on Slurm' : `${config.concurrency} at a time on this machine`;
  log(`sweep ${sweepDir}: ${state.trials.length} trials, rungs at epochs ${rungs.join(', ')}, ${where}`);

  let participants = state.trials;
  let interrupted = false;
  for (const [index, epochs] of rungs.entries()) {
    const toRun = participants.filter((trial) => trial.status !== 'failed' && rungResult(trial, index, epochs) === undefined);
    // A result written after the last save (the controller stopped while the trial finished) is taken, not trained again.
    for (const trial of toRun) {
      const result = readTrialResult(sweepDir, trial.id, epochs);
      if (result) applyOutcome(trial, index, epochs, result, metric, log);
    }
    const pending = toRun.filter((trial) => trial.status !== 'failed' && rungResult(trial, index, epochs) === undefined);
    if (pending.length && !signal.aborted) {
      for (const trial of pending) {
        prepareTrial(sweepDir, trial, epochs);
        trial.status = 'running';
      }
      saveState(sweepDir, state);
      await executor.runRung({ index, epochs, trials: pending }, signal, (id, outcome) => {
        const trial = state.trials.find((candidate) => candidate.id === id)!;
        if (isInterrupted(outcome)) interrupted = true;
        else applyOutcome(trial, index, epochs, outcome, metric, log);
        saveState(sweepDir, state);
        // Results and report.html follow the sweep as trials finish, so they can be watched while it runs.
        writeSweepResults(sweepDir, state.trials, metric, higherIsBetter, spec.sharedConfig);
      });
    }
    if (
      signal.aborted ||
      interrupted ||
      pending.some((trial) => trial.status !== 'failed' && rungResult(trial, index, epochs) === undefined)
    ) {
      interrupted = true;
      break;
    }
    const alive = participants.filter((trial) => trial.status !== 'failed' && rungResult(trial, index, epochs) !== undefined);
    if (index === rungs.length - 1) {
      for (const trial of alive) trial.status = 'done';
      break;
    }
    const promoted = new Set(
      promote(
        alive.map((trial) => ({ id: trial.id, metric: rungResult(trial, index, epochs)! })),
        config.eta,
        higherIsBetter,
      ),
    );
    for (const trial of alive) {
      if (promoted.has(trial.id)) continue;
      trial.status = 'stopped';
      trial.reason = `stopped by successive halving after ${epochs} epoch${epochs === 1 ? '' : 's'}`;
    }
    participants = alive.filter((trial) => promoted.has(trial.id));
    if (pending.length) log(`rung ${index + 1}: ${promoted.size} of ${alive.length} go on to ${rungs[index + 1]} epochs`);
  }
  saveState(sweepDir, state);
  return summarize(sweepDir, state, spec, executor.name, interrupted);
}

/** The trial's metric at a rung, or undefined if it has not finished that rung. Reads sweeps saved before rungs were recorded. */
function rungResult(trial: TrialRecord, index: number, epochs: number): number | null | undefined {
  if (trial.rungs) return trial.rungs[index]?.epochs === epochs ? trial.rungs[index].metric : undefined;
  return trial.status !== 'pending' && trial.status !== 'running' && trial.epochs >= epochs ? trial.metric : undefined;
}

function applyOutcome(
  trial: TrialRecord,
  index: number,
  epochs: number,
  outcome: TrialOutcome,
  metric: string,
  log: (line: string) => void,
) {
  if (isInterrupted(outcome)) return;
  trial.seconds = (trial.seconds ?? 0) + outcome.seconds;
  if (outcome.jobId) trial.jobId = outcome.jobId;
  if (outcome.node) trial.node = outcome.node;
  const where = outcome.jobId ? ` (job ${outcome.jobId}${outcome.node ? ` on ${outcome.node}` : ''})` : '';
  if (!outcome.ok) {
    trial.status = 'failed';
    trial.reason = outcome.reason;
    log(`${trial.id} failed${where}: ${outcome.reason}`);
    return;
  }
  trial.metric = outcome.metric;
  trial.epochs = outcome.epochs;
  if (outcome.cached !== undefined) trial.cached = outcome.cached;
  trial.rungs = [...(trial.rungs ?? []).slice(0, index), { epochs, metric: outcome.metric }];
  log(`${trial.id} ${JSON.stringify(trial.params)}: ${metric} ${outcome.metric?.toFixed(4)} after ${outcome.epochs} epochs${where}`);
}

function summarize(sweepDir: string, state: SweepState, spec: SweepSpec, executor: string, interrupted: boolean): SweepSummary {
  const metric = spec.launch.metric;
  const best = writeSweepResults(sweepDir, state.trials, metric, metric === 'valAccuracy', spec.sharedConfig);
  return {
    sweepDir,
    executor,
    metric,
    status: interrupted ? 'interrupted' : 'completed',
    trials: state.trials.map(({ id, params, status, metric: value, epochs, reason, jobId, node }) => ({
      id,
      params,
      status,
      metric: value,
      epochs,
      reason,
      ...(jobId ? { jobId, node } : {}),
    })),
    best: best ? { id: best.id, params: best.params, metric: best.metric } : null,
    failed: state.trials.filter((trial) => trial.status === 'failed').length,
  };
}
