// The Slurm executor: each rung one job array (`sbatch --array=<trial ids>%K --requeue --open-mode=append`) whose tasks run
// `streamfit sweep --trial $SLURM_ARRAY_TASK_ID`; followed by polling squeue (sacct once a task has left it) and the trial
// folders. Slurm requeues a task whose node dies or that is preempted; the trial then resumes from its checkpoint.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SlurmOptions } from '../config/sweep-config.ts';
import { ConfigError } from '../errors.ts';
import type { Rung, TrialExecutor, TrialOutcome } from './executor.ts';
import type { TrialRecord } from './results.ts';
import { shellQuote } from './shell-words.ts';
import {
  compactArrayTasks,
  endReason,
  isLive,
  type SlurmTask,
  sacctTasks,
  sbatch,
  scancel,
  squeueTasks,
  taskJobId,
} from './slurm-commands.ts';
import { type TrialLaunch, trialIndex, writeJsonAtomic } from './sweep-state.ts';
import { readTrialResult } from './trial.ts';

export interface SlurmExecutorOptions {
  sweepDir: string;
  launch: TrialLaunch;
  slurm: SlurmOptions;
  /** Every job of the sweep (arrays and controller) carries it, so `scancel --name` stops the whole sweep. */
  jobName: string;
  log: (line: string) => void;
}

/** An array this sweep submitted, recorded so that a later controller can find its tasks still queued or running. */
interface SubmittedArray {
  jobId: string;
  rung: number;
  epochs: number;
  tasks: number[];
  submittedAt: string;
}

/** How long a task may look finished without its result showing up (a shared filesystem's caches) before it counts as failed. */
const resultGraceMs = 30_000;

export const sweepJobName = (sweepDir: string) => `streamfit-sweep:${sweepDir.split('/').filter(Boolean).pop() ?? 'sweep'}`;

export class SlurmExecutor implements TrialExecutor {
  readonly name = 'slurm';
  private readonly folder: string;

  constructor(private readonly options: SlurmExecutorOptions) {
    this.folder = join(options.sweepDir, 'slurm');
  }

  /** Refuses to run beside another live controller of the same sweep (two would submit the same trials twice). */
  async start(): Promise<void> {
    mkdirSync(this.folder, { recursive: true });
    const file = join(this.folder, 'controller.json');
    const me = { host: hostname(), pid: process.pid, jobId: process.env.SLURM_JOB_ID ?? null, startedAt: new Date().toISOString() };
    if (existsSync(file)) {
      const other = JSON.parse(readFileSync(file, 'utf8')) as typeof me;
      const sameProcess = other.host === me.host && other.pid === me.pid;
      let alive = false;
      if (!sameProcess && other.jobId && other.jobId !== me.jobId) {
        const tasks = await squeueTasks([other.jobId]);
        alive = tasks.some((task) => isLive(task) && task.name === this.options.jobName);
      } else if (!sameProcess && !other.jobId && other.host === me.host) {
        alive = processAlive(other.pid);
      }
      if (alive)
        throw new ConfigError(
          'out',
          `another controller (${other.jobId ? `job ${other.jobId}` : `pid ${other.pid} on ${other.host}`}) is running the sweep in ${this.options.sweepDir}; wait for it, or scancel it and run this again`,
        );
    }
    writeJsonAtomic(file, me);
  }

  async runRung(rung: Rung, signal: AbortSignal, onOutcome: (id: string, outcome: TrialOutcome) => void): Promise<void> {
    const { sweepDir, jobName, log } = this.options;
    const waiting = new Map<number, TrialRecord>(rung.trials.map((trial) => [trialIndex(trial.id), trial]));
    const arrays: string[] = [];
    // Tasks an earlier controller submitted for this rung that are still queued or running are followed, not submitted again.
    const earlier = this.submitted().filter((array) => array.epochs === rung.epochs);
    const adopted = new Set<number>();
    if (earlier.length) {
      for (const task of await squeueTasks(earlier.map((array) => array.jobId))) {
        if (task.name !== jobName || !isLive(task)) continue;
        for (const id of task.taskIds) if (waiting.has(id)) adopted.add(id);
        if (!arrays.includes(task.arrayJobId)) arrays.push(task.arrayJobId);
      }
      if (adopted.size)
        log(`rung ${rung.index + 1}: following ${adopted.size} trial(s) still queued or running in job(s) ${arrays.join(', ')}`);
    }
    const toSubmit = [...waiting]
      .filter(([id, trial]) => !adopted.has(id) && !readTrialResult(sweepDir, trial.id, rung.epochs))
      .map(([id]) => id);
    if (toSubmit.length && !signal.aborted) arrays.push(await this.submit(rung, toSubmit));
    await this.follow(rung, waiting, arrays, signal, onOutcome);
  }

  private async submit(rung: Rung, ids: number[]): Promise<string> {
    const { sweepDir, launch, slurm, jobName, log } = this.options;
    mkdirSync(this.folder, { recursive: true });
    const script = join(this.folder, `rung-${rung.index + 1}.sh`);
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        `# Written by streamfit sweep: rung ${rung.index + 1} (${rung.epochs} epochs) of ${sweepDir}.`,
        '# Array task N trains trial N in its folder, resuming its checkpoint: a requeued task continues where it stopped.',
        `exec ${[...launch.command, 'sweep', '--out', sweepDir].map(shellQuote).join(' ')} --trial "$SLURM_ARRAY_TASK_ID"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const args = [
      `--array=${compactArrayTasks(ids)}%${slurm.maxRunning ?? ids.length}`,
      '--requeue',
      '--open-mode=append',
      `--job-name=${jobName}`,
      // %3a pads the task id as trial ids are padded (trial-007), so each task logs into its own trial's folder.
      `--output=${join(sweepDir, 'trial-%3a', 'slurm.log')}`,
      `--chdir=${launch.cwd}`,
      ...(slurm.partition ? [`--partition=${slurm.partition}`] : []),
      ...(slurm.time ? [`--time=${slurm.time}`] : []),
      ...(slurm.gpusPerTrial > 0 ? [`--gres=gpu:${slurm.gpusPerTrial}`] : []),
      ...(slurm.cpusPerTrial ? [`--cpus-per-task=${slurm.cpusPerTrial}`] : []),
      ...slurm.args,
      script,
    ];
    const jobId = await sbatch(args);
    const record: SubmittedArray = { jobId, rung: rung.index, epochs: rung.epochs, tasks: ids, submittedAt: new Date().toISOString() };
    writeJsonAtomic(join(this.folder, 'arrays.json'), [...this.submitted(), record]);
    log(`rung ${rung.index + 1}: submitted job array ${jobId} (${ids.length} trial(s) to ${rung.epochs} epochs): sbatch ${args.join(' ')}`);
    return jobId;
  }

  private submitted(): SubmittedArray[] {
    const file = join(this.folder, 'arrays.json');
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SubmittedArray[]) : [];
  }

  /** Polls the trial folders and squeue until every trial of the rung has an outcome. */
  private async follow(
    rung: Rung,
    waiting: Map<number, TrialRecord>,
    arrays: string[],
    signal: AbortSignal,
    onOutcome: (id: string, outcome: TrialOutcome) => void,
  ): Promise<void> {
    const { sweepDir, slurm, log } = this.options;
    const last = new Map<number, { state: string; restarts: number }>();
    const endedSince = new Map<number, number>();
    let squeueFailing = false;
    const takeResults = () => {
      for (const [id, trial] of waiting) {
        const result = readTrialResult(sweepDir, trial.id, rung.epochs);
        if (!result) continue;
        waiting.delete(id);
        onOutcome(trial.id, result);
      }
    };
    while (true) {
      takeResults();
      if (!waiting.size) return;
      if (signal.aborted) return this.stop(rung, waiting, arrays, onOutcome);
      let tasks: Map<number, SlurmTask>;
      try {
        tasks = latestPerTask(await squeueTasks(arrays), arrays);
        if (squeueFailing) log('squeue answers again');
        squeueFailing = false;
      } catch (error) {
        // slurmctld restarting or overloaded: results still arrive in the folders; ask again at the next poll.
        if (!squeueFailing) log(`${(error as Error).message}; trying again every ${slurm.pollSeconds} s`);
        squeueFailing = true;
        endedSince.clear();
        await sleep(slurm.pollSeconds * 1000, undefined, { signal }).catch(() => undefined);
        continue;
      }
      const now = Date.now();
      for (const [id, trial] of waiting) {
        const task = tasks.get(id);
        if (task && isLive(task)) {
          endedSince.delete(id);
          this.noteChange(trial, task, id, last);
          continue;
        }
        if (!endedSince.has(id)) endedSince.set(id, now);
        if (now - endedSince.get(id)! < Math.max(resultGraceMs, 2 * slurm.pollSeconds * 1000)) continue;
        const final = task ?? latestPerTask(await sacctTasks(arrays), arrays).get(id);
        waiting.delete(id);
        if (final?.state === 'CANCELLED') {
          log(`${trial.id} was cancelled (job ${taskJobId(final.arrayJobId, id)}); run the sweep again to resume it`);
          onOutcome(trial.id, { interrupted: 'cancelled' });
          continue;
        }
        const reason = final
          ? endReason(final)
          : `ended without writing a result, and Slurm no longer reports it (job array ${arrays.join(', ')}); see its slurm.log`;
        onOutcome(trial.id, {
          id: trial.id,
          targetEpochs: rung.epochs,
          ok: false,
          metric: null,
          epochs: trial.epochs,
          reason,
          seconds: 0,
          ...(final ? { jobId: taskJobId(final.arrayJobId, id), node: final.node || undefined } : {}),
          finishedAt: new Date().toISOString(),
        });
      }
      if (waiting.size) await sleep(slurm.pollSeconds * 1000, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Logs a task starting, and a task that Slurm requeued (its node died, or it was preempted). */
  private noteChange(trial: TrialRecord, task: SlurmTask, id: number, last: Map<number, { state: string; restarts: number }>): void {
    const before = last.get(id);
    last.set(id, { state: task.state, restarts: task.restarts });
    const jobId = taskJobId(task.arrayJobId, id);
    if (before && (task.restarts > before.restarts || (before.state === 'RUNNING' && task.state !== 'RUNNING')))
      this.options.log(
        `${trial.id} (job ${jobId}) was requeued by Slurm (${task.reason !== 'None' ? task.reason : task.state}): it resumes from its last checkpoint`,
      );
    if (task.state === 'RUNNING' && before?.state !== 'RUNNING') this.options.log(`${trial.id} running as job ${jobId} on ${task.node}`);
  }

  /** Cancels the rung's tasks (each checkpoints on SIGTERM) and waits until they have ended, so a re-run finds quiet folders. */
  private async stop(
    rung: Rung,
    waiting: Map<number, TrialRecord>,
    arrays: string[],
    onOutcome: (id: string, outcome: TrialOutcome) => void,
  ): Promise<void> {
    const { sweepDir, log } = this.options;
    log(`stopping: scancel ${arrays.join(' ')}`);
    await scancel(arrays).catch((error: Error) => log(error.message)); // some tasks may have ended already
    for (let i = 0; i < 600; i++) {
      const tasks = await squeueTasks(arrays).catch(() => undefined);
      if (tasks && !tasks.some(isLive)) break;
      await sleep(500);
    }
    for (const [id, trial] of waiting) {
      waiting.delete(id);
      onOutcome(trial.id, readTrialResult(sweepDir, trial.id, rung.epochs) ?? { interrupted: 'cancelled' });
    }
  }
}

/** Each task's record from the newest array holding it (a task resubmitted after a cancel appears in two arrays). */
function latestPerTask(tasks: SlurmTask[], arrays: string[]): Map<number, SlurmTask> {
  const byTask = new Map<number, SlurmTask>();
  const order = (task: SlurmTask) => arrays.indexOf(task.arrayJobId);
  for (const task of tasks)
    for (const id of task.taskIds) {
      const known = byTask.get(id);
      if (!known || order(task) >= order(known)) byTask.set(id, task);
    }
  return byTask;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
