// `--detach`: the sweep's controller submitted as a 1-CPU Slurm job running the same command, so the user can log out. It is
// requeued like a trial: a controller that starts again resumes the sweep and follows the arrays still running.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SlurmOptions } from '../config/sweep-config.ts';
import { shellQuote } from './shell-words.ts';
import { sbatch } from './slurm-commands.ts';

export interface DetachOptions {
  sweepDir: string;
  cwd: string;
  /** The controller's full command line (node, its flags, bin/streamfit.js, `sweep`, the flags but --detach). */
  command: string[];
  jobName: string;
  slurm: SlurmOptions;
}

/** Submits the controller and returns its job id; its output goes to <sweep>/controller.log. */
export function submitController(options: DetachOptions): Promise<string> {
  mkdirSync(options.sweepDir, { recursive: true }); // Slurm opens the log there before the job starts
  return sbatch([
    `--job-name=${options.jobName}`,
    '--ntasks=1',
    '--cpus-per-task=1',
    '--requeue',
    '--open-mode=append',
    `--output=${join(options.sweepDir, 'controller.log')}`,
    `--chdir=${options.cwd}`,
    ...(options.slurm.partition ? [`--partition=${options.slurm.partition}`] : []),
    `--wrap=exec ${options.command.map(shellQuote).join(' ')}`,
  ]);
}
