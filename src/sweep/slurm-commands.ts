// Slurm's own commands, as the sweep uses them: sbatch to submit, squeue --json (or sacct once a job has left squeue) to
// follow, scancel to stop. Job records are read in both JSON shapes (Slurm 22.05's plain values; 23.02+'s {set, number}
// objects and state lists) and reduced to what the sweep needs.

import { execFile } from 'node:child_process';
import { ConfigError } from '../errors.ts';

/** One array task as Slurm reports it. A pending part of an array comes as one record holding several task ids. */
export interface SlurmTask {
  arrayJobId: string;
  /** The task ids this record stands for (several only for a still-pending part of the array). */
  taskIds: number[];
  name: string;
  /** Base state: PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, CANCELLED, PREEMPTED… */
  state: string;
  reason: string;
  /** Exit status of the batch script, and the signal that killed it (0: none). */
  exitCode: number | null;
  exitSignal: number | null;
  node: string;
  restarts: number;
  timeLimitMinutes: number | null;
}

/** States in which a task has not finished: it is waiting, running, or requeued to run again. */
const liveStates = new Set([
  'PENDING',
  'RUNNING',
  'CONFIGURING',
  'COMPLETING',
  'SUSPENDED',
  'REQUEUED',
  'REQUEUE_FED',
  'REQUEUE_HOLD',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
  'STOPPED',
  'RESV_DEL_HOLD',
]);

export const isLive = (task: SlurmTask) => liveStates.has(task.state);

export const taskJobId = (arrayJobId: string, taskId: number) => `${arrayJobId}_${taskId}`;

/** Runs a Slurm command; a missing command or a refusal becomes one line naming it. */
export function slurmCommand(command: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(command, args, { maxBuffer: 2 ** 28 }, (error, stdout, stderr) => {
      if (!error) return resolvePromise(stdout);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return reject(
          new ConfigError('executor', `slurm: ${command} is not on PATH; run the sweep where Slurm's commands work (a login node)`),
        );
      const said = stderr.trim().split('\n').filter(Boolean).pop() ?? error.message;
      reject(new ConfigError('executor', `slurm: ${command} ${args.filter((arg) => !arg.includes('\n')).join(' ')} failed: ${said}`));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Submits a batch job and returns its id (`sbatch --parsable` prints `id` or `id;cluster`). */
export async function sbatch(args: string[]): Promise<string> {
  const out = await slurmCommand('sbatch', ['--parsable', ...args]);
  const jobId = out.trim().split(';')[0];
  if (!/^\d+$/.test(jobId)) throw new ConfigError('executor', `slurm: sbatch printed '${out.trim()}' where a job id was expected`);
  return jobId;
}

export async function scancel(jobIds: string[]): Promise<void> {
  if (jobIds.length) await slurmCommand('scancel', jobIds);
}

/**
 * The tasks of the given array jobs, from `squeue --json`. Finished tasks stay there for MinJobAge (300 s by default).
 * Slurm 22.05 ignores squeue's filters with --json, so the records are filtered here as well.
 */
export async function squeueTasks(arrayJobIds: string[]): Promise<SlurmTask[]> {
  if (!arrayJobIds.length) return [];
  const out = await slurmCommand('squeue', ['--json', '--states=all', `--jobs=${arrayJobIds.join(',')}`]);
  const wanted = new Set(arrayJobIds);
  return parseSqueueJson(out).filter((task) => wanted.has(task.arrayJobId));
}

/** The tasks' final records from accounting (`sacct`), for tasks squeue no longer shows; none where accounting is off. */
export async function sacctTasks(arrayJobIds: string[]): Promise<SlurmTask[]> {
  if (!arrayJobIds.length) return [];
  let out: string;
  try {
    out = await slurmCommand('sacct', [
      '--noheader',
      '--parsable2',
      '--allocations',
      `--jobs=${arrayJobIds.join(',')}`,
      '--format=JobID,JobName,State,ExitCode,NodeList,Timelimit',
    ]);
  } catch {
    return [];
  }
  return parseSacct(out);
}

export function parseSacct(text: string): SlurmTask[] {
  const tasks: SlurmTask[] = [];
  for (const line of text.split('\n')) {
    const [jobId, name, state, exit, node] = line.split('|');
    const match = /^(\d+)_(\d+)$/.exec(jobId ?? '');
    if (!match) continue;
    const [code, signal] = (exit ?? '').split(':').map(Number);
    tasks.push({
      arrayJobId: match[1],
      taskIds: [Number(match[2])],
      name: name ?? '',
      state: (state ?? '').split(' ')[0], // "CANCELLED by 0"
      reason: '',
      exitCode: Number.isFinite(code) ? code : null,
      exitSignal: Number.isFinite(signal) ? signal : null,
      node: node ?? '',
      restarts: 0,
      timeLimitMinutes: null,
    });
  }
  return tasks;
}

type Json = Record<string, unknown>;

/** A number in either JSON shape: `3`, or `{set: true, infinite: false, number: 3}`. */
function numberOf(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (value && typeof value === 'object' && (value as Json).set !== false && typeof (value as Json).number === 'number')
    return (value as Json).number as number;
  return null;
}

export function parseSqueueJson(text: string): SlurmTask[] {
  const document = JSON.parse(text) as { jobs?: Json[] };
  return (document.jobs ?? []).map((job) => {
    const arrayJobId = numberOf(job.array_job_id) || numberOf(job.job_id);
    const taskId = numberOf(job.array_task_id);
    const taskString = typeof job.array_task_string === 'string' ? job.array_task_string : '';
    const states = Array.isArray(job.job_state) ? (job.job_state as string[]) : [String(job.job_state ?? '')];
    const { code, signal } = exitOf(job.exit_code);
    return {
      arrayJobId: String(arrayJobId),
      taskIds: taskId !== null ? [taskId] : expandArrayTasks(taskString),
      name: String(job.name ?? ''),
      state: states[0] ?? '',
      reason: String(job.state_reason ?? ''),
      exitCode: code,
      exitSignal: signal,
      node: String(job.nodes ?? job.batch_host ?? ''),
      restarts: numberOf(job.restart_cnt) ?? 0,
      timeLimitMinutes: numberOf(job.time_limit),
    };
  });
}

/** 22.05 gives the wait status (code << 8 | signal); 23.02+ an object with return_code and signal. */
function exitOf(value: unknown): { code: number | null; signal: number | null } {
  const status = numberOf(value);
  if (status !== null) return { code: status >> 8, signal: status & 0x7f };
  if (value && typeof value === 'object') {
    const exit = value as Json;
    const signal = exit.signal && typeof exit.signal === 'object' ? numberOf((exit.signal as Json).id) : null;
    return { code: numberOf(exit.return_code), signal };
  }
  return { code: null, signal: null };
}

/** Task ids of an array expression: `0,2-3,5%2`, `1-7:2`. */
export function expandArrayTasks(text: string): number[] {
  const ids: number[] = [];
  for (const part of text.split('%')[0].split(',').filter(Boolean)) {
    const match = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part.trim());
    if (!match) continue;
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    const step = match[3] === undefined ? 1 : Number(match[3]);
    for (let id = first; id <= last; id += Math.max(1, step)) ids.push(id);
  }
  return ids;
}

/** Compact array expression for sbatch: [0, 1, 2, 5] → `0-2,5`. */
export function compactArrayTasks(ids: number[]): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

const signalNames: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };

/** Why a task that ended without writing a result ended, in Slurm's words and ours. */
export function endReason(task: SlurmTask): string {
  const where = task.node ? ` on ${task.node}` : '';
  const exit = task.exitSignal
    ? `killed by ${signalNames[task.exitSignal] ?? `signal ${task.exitSignal}`}`
    : `exit code ${task.exitCode ?? '?'}`;
  switch (task.state) {
    case 'OUT_OF_MEMORY':
      return `killed for using more memory than it asked for (Slurm OUT_OF_MEMORY${where}); ask for more with --slurm-args '--mem=…'`;
    case 'TIMEOUT':
      return `reached its time limit${task.timeLimitMinutes ? ` of ${task.timeLimitMinutes} min` : ''} (Slurm TIMEOUT${where}); raise --slurm-time`;
    case 'NODE_FAIL':
      return `its node failed and it was not requeued (Slurm NODE_FAIL${where})`;
    case 'BOOT_FAIL':
      return `its node failed to boot (Slurm BOOT_FAIL${where})`;
    case 'DEADLINE':
      return `passed its deadline (Slurm DEADLINE${where})`;
    case 'PREEMPTED':
      return `preempted and not requeued (Slurm PREEMPTED${where})`;
    case 'CANCELLED':
      return `cancelled (Slurm CANCELLED${where})`;
    case 'COMPLETED':
      return `ended with exit code 0 but wrote no result (Slurm COMPLETED${where}); see its slurm.log`;
    default:
      return `${exit} (Slurm ${task.state || 'state unknown'}${task.reason && task.reason !== 'None' ? `, ${task.reason}` : ''}${where}); see its slurm.log`;
  }
}
