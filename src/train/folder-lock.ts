// An exclusive lock on a run or sweep folder: a file created with O_EXCL naming the process that holds it. A lock whose
// process is gone (same host, no such pid; or the same Slurm task requeued on another node) is stale and taken over.

import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RunFolderInUse } from '../errors.ts';

export const lockFileName = '.streamfit-lock';

/** Who holds a lock, as written into the lock file. */
export interface LockHolder {
  pid: number;
  host: string;
  /** The Slurm task (`<array job>_<task>` or the job id) the holder ran as, if any. */
  slurmTask?: string;
  command: string;
  since: string;
}

export interface FolderLock {
  readonly file: string;
  release(): void;
}

/** Takes the folder's lock or throws RunFolderInUse naming the live holder; the folder must exist. */
export function lockFolder(folder: string, env: NodeJS.ProcessEnv = process.env): FolderLock {
  const file = join(folder, lockFileName);
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    ...(slurmTask(env) ? { slurmTask: slurmTask(env) } : {}),
    command: process.argv.slice(1).join(' ').slice(0, 300),
    since: new Date().toISOString(),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${JSON.stringify(me)}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw inUse(folder, file, readHolder(file));
        throw error;
      }
      const holder = readHolder(file);
      if (holder ? isAlive(holder, env) : justCreated(file)) throw inUse(folder, file, holder);
      // Stale, or unreadable for a while (a holder killed between creating and writing the file): take it over.
      rmSync(file, { force: true });
    }
  }
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      if (readHolder(file)?.pid === me.pid) rmSync(file, { force: true });
    },
  };
}

/** Whether the lock's holder may still be running: certain on its own host, assumed on another unless Slurm says otherwise. */
export function isAlive(holder: LockHolder, env: NodeJS.ProcessEnv = process.env): boolean {
  if (holder.host !== hostname()) {
    // Slurm runs one incarnation of a task at a time: a requeued task finding its own earlier lock finds a dead one.
    return !(holder.slurmTask !== undefined && holder.slurmTask === slurmTask(env));
  }
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, but another user's
  }
}

/** An unreadable lock file younger than a few seconds is one its holder is still writing. */
function justCreated(file: string): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs < 5000;
  } catch {
    return false;
  }
}

function readHolder(file: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
    return typeof holder.pid === 'number' && typeof holder.host === 'string' ? holder : undefined;
  } catch {
    return undefined;
  }
}

function inUse(folder: string, file: string, holder: LockHolder | undefined): RunFolderInUse {
  const who = holder
    ? `streamfit process ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host}`} (since ${holder.since})`
    : 'another streamfit process';
  const remote = holder && holder.host !== hostname() ? `; if that process is gone, delete ${file}` : '';
  return new RunFolderInUse(folder, `${who}${remote}`);
}

function slurmTask(env: NodeJS.ProcessEnv): string | undefined {
  if (env.SLURM_ARRAY_JOB_ID && env.SLURM_ARRAY_TASK_ID) return `${env.SLURM_ARRAY_JOB_ID}_${env.SLURM_ARRAY_TASK_ID}`;
  return env.SLURM_JOB_ID || undefined;
}
