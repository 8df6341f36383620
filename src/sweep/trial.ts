// One trial: a training run in the trial's folder, started as a child `streamfit train` (resuming its checkpoint), whose outcome
// is written to the folder as result.json. Both executors run trials through here: the local one in the sweep process, the
// Slurm one in `streamfit sweep --trial N` on a node. The controller only ever reads the folder.

import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { markFolder } from '../train/output-folder.ts';
import type { TrialRecord } from './results.ts';
import { readState, type TrialLaunch, writeJsonAtomic } from './sweep-state.ts';

export interface TrialResult {
  id: string;
  /** The epochs this run was asked to reach: the rung it belongs to. */
  targetEpochs: number;
  ok: boolean;
  /** The sweep's metric at the trial's best epoch so far. */
  metric: number | null;
  /** Epochs trained in all (early stopping may end a trial before its target). */
  epochs: number;
  /** Why it failed: the run's own error line, or what Slurm says ended it. */
  reason?: string;
  /** Whether it trained from the feature cache. */
  cached?: boolean;
  seconds: number;
  /** Slurm's job id (`<array job>_<task>`) and the node it ran on; absent with the local executor. */
  jobId?: string;
  node?: string;
  /** The GPUs Slurm gave it (CUDA_VISIBLE_DEVICES). */
  gpus?: string;
  finishedAt: string;
}

/** A run that ended without an outcome: it was interrupted (SIGTERM, SIGINT) after writing a checkpoint. */
export interface Interrupted {
  interrupted: string;
}

export const trialFolder = (sweepDir: string, id: string) => join(sweepDir, id);
const resultFile = (sweepDir: string, id: string) => join(trialFolder(sweepDir, id), 'result.json');
const overridesFile = (sweepDir: string, id: string) => join(trialFolder(sweepDir, id), 'overrides.json');

/** Writes what the trial's next run trains to: its parameters and the rung's epochs. */
export function prepareTrial(sweepDir: string, trial: TrialRecord, epochs: number): void {
  // Marked as a run before its first train, which would otherwise refuse a folder holding files streamfit did not mark.
  markFolder(trialFolder(sweepDir, trial.id), 'run');
  writeFileSync(overridesFile(sweepDir, trial.id), JSON.stringify({ ...trial.params, epochs, name: trial.id }, null, 2));
}

/** The trial's last outcome, or undefined if it has none for `targetEpochs` (a result of an earlier rung does not count). */
export function readTrialResult(sweepDir: string, id: string, targetEpochs: number): TrialResult | undefined {
  const file = resultFile(sweepDir, id);
  if (!existsSync(file)) return undefined;
  try {
    const result = JSON.parse(readFileSync(file, 'utf8')) as TrialResult;
    return result.targetEpochs === targetEpochs ? result : undefined;
  } catch {
    return undefined; // written by rename, so a partial file is another writer's temporary: not a result yet
  }
}

export function writeTrialResult(sweepDir: string, result: TrialResult): void {
  writeJsonAtomic(resultFile(sweepDir, result.id), result);
}

/** Where the trial runs, from Slurm's environment (nothing outside a Slurm job). */
export function slurmPlacement(env: NodeJS.ProcessEnv): Pick<TrialResult, 'jobId' | 'node' | 'gpus'> {
  const jobId =
    env.SLURM_ARRAY_JOB_ID && env.SLURM_ARRAY_TASK_ID ? `${env.SLURM_ARRAY_JOB_ID}_${env.SLURM_ARRAY_TASK_ID}` : env.SLURM_JOB_ID;
  return {
    ...(jobId ? { jobId } : {}),
    ...(env.SLURMD_NODENAME ? { node: env.SLURMD_NODENAME } : {}),
    ...(jobId && env.CUDA_VISIBLE_DEVICES ? { gpus: env.CUDA_VISIBLE_DEVICES } : {}),
  };
}

/**
 * Trains the trial to the epochs in its overrides.json, resuming its checkpoint if it has one, and writes result.json.
 * A run interrupted by a signal writes no result: it is continued later (a requeued Slurm task, a re-run sweep).
 */
export async function runTrial(
  sweepDir: string,
  id: string,
  options: { launch?: TrialLaunch; signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<TrialResult | Interrupted> {
  const env = options.env ?? process.env;
  const launch = options.launch ?? readState(sweepDir).launch;
  const folder = trialFolder(sweepDir, id);
  const overrides = JSON.parse(readFileSync(overridesFile(sweepDir, id), 'utf8')) as { epochs: number };
  const done = readTrialResult(sweepDir, id, overrides.epochs);
  if (done) return done; // a requeued task whose trial had already finished
  if (options.signal?.aborted) return { interrupted: String(options.signal.reason ?? 'SIGTERM') };
  const resume = existsSync(join(folder, 'checkpoints', 'latest.json'));
  const args = [
    ...launch.command.slice(1),
    'train',
    '--config',
    launch.pipelineFile,
    ...launch.trainArgs,
    '--overrides',
    overridesFile(sweepDir, id),
    '--out',
    folder,
    ...(resume ? ['--resume'] : []),
    '--json',
  ];
  const started = performance.now();
  const threads = Number(env.SLURM_CPUS_PER_TASK) || availableParallelism();
  const child = await runChild(launch.command[0], args, {
    cwd: launch.cwd,
    env: { ...env, UV_THREADPOOL_SIZE: String(Math.max(4, threads)) },
    logFile: join(folder, 'log.txt'),
    signal: options.signal,
  });
  const base = { id, targetEpochs: overrides.epochs, seconds: (performance.now() - started) / 1000, ...slurmPlacement(env) };
  if (child.code === 130 || child.code === 143 || child.signal === 'SIGTERM' || child.signal === 'SIGINT')
    return { interrupted: child.signal ?? (child.code === 143 ? 'SIGTERM' : 'SIGINT') };
  let result: TrialResult;
  if (child.code === 0) {
    const summary = parseSummary(child.stdout);
    result = summary
      ? {
          ...base,
          ok: true,
          metric: typeof summary[launch.metric] === 'number' ? (summary[launch.metric] as number) : null,
          epochs: typeof summary.epochs === 'number' ? summary.epochs : overrides.epochs,
          ...(summary.featureCache ? { cached: summary.featureCache === 'hit' } : {}),
          finishedAt: new Date().toISOString(),
        }
      : { ...base, ok: false, metric: null, epochs: 0, reason: 'the run printed no summary', finishedAt: new Date().toISOString() };
  } else {
    const reason = child.lastError ?? (child.signal ? `killed by ${child.signal}` : `exited with code ${child.code}`);
    result = { ...base, ok: false, metric: null, epochs: 0, reason, finishedAt: new Date().toISOString() };
  }
  writeTrialResult(sweepDir, result);
  return result;
}

function parseSummary(stdout: string): Record<string, unknown> | undefined {
  const last = stdout.trim().split('\n').pop();
  try {
    return last ? (JSON.parse(last) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** The run's last `streamfit: …` error line. */
  lastError?: string;
}

/** Runs the training process with its stderr appended to the trial's log; an abort asks it to stop (SIGTERM: it checkpoints). */
function runChild(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; logFile: string; signal?: AbortSignal },
): Promise<ChildOutcome> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let lastError: string | undefined;
    const stop = () => child.kill('SIGTERM');
    options.signal?.addEventListener('abort', stop, { once: true });
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      appendFileSync(options.logFile, chunk);
      for (const line of chunk.toString().split('\n'))
        if (line.startsWith('streamfit:')) lastError = line.slice('streamfit:'.length).trim();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', stop);
      resolvePromise({ code, signal, stdout, lastError });
    });
  });
}
