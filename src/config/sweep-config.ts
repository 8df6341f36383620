// The sweep's own settings (how many trials, the halving rule, where trials run), separate from the run config every trial
// shares: one schema (arktype), its defaults, and validation that names the field.

import { tmpdir } from 'node:os';
import { resolve, sep } from 'node:path';
import { type } from 'arktype';
import { ConfigError } from '../errors.ts';

/** Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS. */
const slurmTime = /^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2})$/;

export const slurmOptionsSchema = type({
  'partition?': 'string > 0',
  'time?': 'string > 0',
  /** GPUs per trial, asked as --gres=gpu:N (0: none asked). */
  gpusPerTrial: 'number.integer >= 0',
  'cpusPerTrial?': 'number.integer >= 1',
  /** Trials of one rung running at once: the array's %K (default: all of them). */
  'maxRunning?': 'number.integer >= 1',
  /** More sbatch arguments, passed through unchanged (after ours, so they win). */
  args: 'string[]',
  /** How often the controller asks squeue and looks at the trial folders. */
  pollSeconds: 'number > 0',
}).onUndeclaredKey('reject');

export const sweepConfigSchema = type({
  executor: "'local' | 'slurm'",
  trials: 'number.integer >= 1',
  /** Trials at once with the local executor. */
  concurrency: 'number.integer >= 1',
  eta: 'number > 1',
  minEpochs: 'number.integer >= 1',
  /** The sweep folder. */
  out: 'string > 0',
  /** Slurm only: submit the controller itself as a job and return. */
  detach: 'boolean',
  slurm: slurmOptionsSchema,
}).onUndeclaredKey('reject');

export type SweepConfig = typeof sweepConfigSchema.infer;
export type SlurmOptions = typeof slurmOptionsSchema.infer;

export const defaultSweepConfig: Omit<SweepConfig, 'out'> = {
  executor: 'local',
  trials: 8,
  // Trials share the machine's cores: one at a time by default (on a GPU, one process owns the card).
  concurrency: 1,
  eta: 3,
  minEpochs: 1,
  detach: false,
  slurm: { gpusPerTrial: 0, args: [], pollSeconds: 5 },
};

/** Validates a whole sweep config; the error names the first bad field. Slurm needs a sweep folder every node sees. */
export function validateSweepConfig(input: Record<string, unknown>): SweepConfig {
  const result = sweepConfigSchema(input);
  if (result instanceof type.errors) {
    const first = result[0];
    const field = first.path.join('.') || '(root)';
    const value = first.path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key as string], input);
    throw new ConfigError(`sweep.${field}`, `got ${JSON.stringify(value)}; ${first.message}`);
  }
  if (result.slurm.time !== undefined && !slurmTime.test(result.slurm.time))
    throw new ConfigError(
      'sweep.slurm.time',
      `got ${JSON.stringify(result.slurm.time)}; expected a Slurm time such as 90, 1:30:00 or 2-00:00:00`,
    );
  if (result.executor === 'slurm') {
    const folder = resolve(result.out);
    const local = ['/tmp', tmpdir()].find((root) => folder === root || folder.startsWith(root + sep));
    if (local)
      throw new ConfigError(
        'out',
        `${folder} is under ${local}, which every node has its own of: with the executor slurm the sweep folder must be on a filesystem all nodes see (pass --out on a shared filesystem)`,
      );
  }
  if (result.executor !== 'slurm' && result.detach) throw new ConfigError('sweep.detach', 'only the executor slurm can detach');
  return result;
}
