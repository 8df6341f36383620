// The sweep folder's record, sweep.json: the search space, its trials with what each reached, and how a trial is launched.
// It is what lets a re-run of the same command resume, and what a trial started by Slurm reads to know what to run.

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, DataError } from '../errors.ts';
import type { TrialRecord } from './results.ts';
import { type SearchSpace, sampleTrials } from './space.ts';

/** How a trial's training run is started: `command… train --config pipelineFile …trainArgs`, in `cwd`. */
export interface TrialLaunch {
  /** The streamfit command: node, its heap flags, bin/streamfit.js. */
  command: string[];
  pipelineFile: string;
  /** Run flags shared by every trial (data, model, backend…). */
  trainArgs: string[];
  cwd: string;
  /** The summary field a trial is ranked by (valAccuracy or valLoss). */
  metric: string;
}

export interface SweepState {
  space: SearchSpace;
  launch: TrialLaunch;
  trials: TrialRecord[];
}

export const stateFile = (sweepDir: string) => join(sweepDir, 'sweep.json');

/** Trial ids follow the array task ids Slurm hands out: trial-003 is task 3. */
export function trialId(index: number): string {
  return `trial-${String(index).padStart(3, '0')}`;
}

export function trialIndex(id: string): number {
  const match = /^trial-(\d+)$/.exec(id);
  if (!match) throw new ConfigError('trial', `'${id}' is not a trial id (trial-NNN)`);
  return Number(match[1]);
}

/** The saved state of an earlier run of this sweep (with its launch replaced by this one's), or a new one. */
export function loadOrCreateState(sweepDir: string, space: SearchSpace, count: number, seed: number, launch: TrialLaunch): SweepState {
  const file = stateFile(sweepDir);
  if (existsSync(file)) {
    const saved = readState(sweepDir);
    if (JSON.stringify(saved.space) !== JSON.stringify(space))
      throw new ConfigError('space', `${file} holds a sweep of another search space; use another --out`);
    const state = { ...saved, launch };
    saveState(sweepDir, state);
    return state;
  }
  const trials: TrialRecord[] = sampleTrials(space, count, seed).map((params, i) => ({
    id: trialId(i),
    params,
    status: 'pending',
    metric: null,
    epochs: 0,
  }));
  const state = { space, launch, trials };
  saveState(sweepDir, state);
  return state;
}

export function readState(sweepDir: string): SweepState {
  const file = stateFile(sweepDir);
  if (!existsSync(file)) throw new DataError(file, 'no sweep here (sweep.json is missing)');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SweepState;
  } catch (error) {
    throw new DataError(file, `not valid JSON (${(error as Error).message})`);
  }
}

/** Written to a temporary file and renamed, so a trial on another node never reads half a file. */
export function saveState(sweepDir: string, state: SweepState): void {
  writeJsonAtomic(stateFile(sweepDir), state);
}

export function writeJsonAtomic(file: string, value: unknown): void {
  const temporary = `${file}.writing-${process.pid}`;
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(temporary, file);
}
