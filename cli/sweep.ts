// `streamfit sweep`: flags and the pipeline file's `space` (and optional `sweep` settings) → a sweep config → the controller
// in src/sweep → printed. With --trial N it runs one trial of an existing sweep instead: what Slurm's array tasks run.

import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { heapFlags } from '../src/config/heap-flags.ts';
import { importPipelineModule } from '../src/config/pipeline-import.ts';
import { defaultSweepConfig, type SweepConfig, validateSweepConfig } from '../src/config/sweep-config.ts';
import { ConfigError, FlagError } from '../src/errors.ts';
import { runSweep } from '../src/sweep/controller.ts';
import { isInterrupted } from '../src/sweep/executor.ts';
import { splitShellWords } from '../src/sweep/shell-words.ts';
import { submitController } from '../src/sweep/slurm-detach.ts';
import { sweepJobName } from '../src/sweep/slurm-executor.ts';
import { type SearchSpace, validateSearchSpace } from '../src/sweep/space.ts';
import { type TrialLaunch, trialId } from '../src/sweep/sweep-state.ts';
import { runTrial } from '../src/sweep/trial.ts';
import { checkOutputFolder, markFolder } from '../src/train/output-folder.ts';
import { intFlag, numberFlag, parseFlags, report, stringFlag, type ValuesOf } from './args.ts';
import { sweepFlags } from './flags.ts';
import { configFromFlags, loadPipeline, positionalData, resolveRunConfig, runFlags } from './run-config.ts';

export const defaultSweepFile = 'pipelines/sweep.ts';
const streamfitBin = fileURLToPath(new URL('../bin/streamfit.js', import.meta.url));
/** Flags a trial does not inherit from the sweep's command line: the sweep sets them per trial. */
const perTrialFlags = new Set(['out', 'name', 'epochs', 'overrides', 'config']);

export async function sweepCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(joinSlurmArgs(argv), sweepFlags);
  if (values.trial !== undefined) return trialMode(values.trial, stringFlag(values, 'out'), values.json);
  const data = positionalData(positionals, values);

  const pipelineFile = stringFlag(values, 'config') ?? defaultSweepFile;
  const pipeline = await loadPipeline(pipelineFile);
  const module = (await importPipelineModule(pipelineFile)) as { space?: unknown; sweep?: unknown };
  if (!module.space) throw new ConfigError('space', `${pipelineFile} must export \`space\` (a search space)`);
  const space: SearchSpace = validateSearchSpace(module.space);
  const flags: Record<string, unknown> = { ...configFromFlags(values), ...(data === undefined ? {} : { data }) };
  const base = resolveRunConfig(pipeline, { ...flags, name: flags.name ?? 'sweep' }); // validates the shared config before any work
  const out = String(flags.out ?? join('runs', String(flags.name ?? pipeline.config.name ?? 'sweep')));
  const config = sweepConfigFrom(values, module.sweep, out);
  const sweepDir = resolve(config.out);
  const launch: TrialLaunch = {
    command: [process.execPath, ...heapFlags(), streamfitBin],
    pipelineFile: resolve(pipelineFile),
    trainArgs: [
      ...(data === undefined ? [] : ['--data', data]),
      ...Object.entries(values)
        .filter(([name, value]) => name in runFlags && !perTrialFlags.has(name) && value !== undefined && value !== false)
        .flatMap(([name, value]) => (value === true ? [`--${name}`] : [`--${name}`, String(value)])),
    ],
    cwd: process.cwd(),
    metric: space.metric ?? 'valAccuracy',
  };

  if (config.detach) {
    // Slurm opens controller.log in the sweep folder before the controller runs: check and mark the folder first.
    checkOutputFolder(sweepDir, 'sweep', { data: base.data });
    markFolder(sweepDir, 'sweep');
    const jobId = await submitController({
      sweepDir,
      cwd: process.cwd(),
      command: [...launch.command, 'sweep', ...argv.filter((arg) => arg !== '--detach')],
      jobName: sweepJobName(sweepDir),
      slurm: config.slurm,
    });
    report(
      values.json,
      { sweepDir, jobId, detached: true },
      `sweep controller submitted as job ${jobId}: follow it with \`squeue --name=${sweepJobName(sweepDir)}\`, ${join(sweepDir, 'controller.log')} and ${join(sweepDir, 'report.html')}`,
    );
    return;
  }

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => stop.abort(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const { name, out: runOut, ...shared } = base;
  void name;
  void runOut;
  try {
    const summary = await runSweep({
      config,
      space,
      launch,
      seed: base.seed,
      maxEpochs: base.epochs,
      sharedConfig: shared,
      log: (line) => process.stderr.write(`${line}\n`),
      signal: stop.signal,
    });
    const { best, failed, metric } = summary;
    report(
      values.json,
      summary,
      summary.status === 'interrupted'
        ? `sweep interrupted: run the same command again to resume it; report so far: ${join(sweepDir, 'report.html')}`
        : `sweep done: best ${best ? `${best.id} ${metric} ${best.metric?.toFixed(4)} ${JSON.stringify(best.params)}` : 'none'}; ${failed} failed; report: ${join(sweepDir, 'report.html')}`,
    );
    if (summary.status === 'interrupted') process.exitCode = stop.signal.reason === 'SIGINT' ? 130 : 143;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `--slurm-args '--mem=16G'`: its value always starts with '-', which the flag parser would take for a flag of its own. */
function joinSlurmArgs(argv: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++)
    joined.push(argv[i] === '--slurm-args' && i + 1 < argv.length ? `--slurm-args=${argv[++i]}` : argv[i]);
  return joined;
}

type SweepFlagValues = ValuesOf<typeof sweepFlags>;

/** defaults ← the pipeline file's `sweep` export ← flags, validated as a whole. */
function sweepConfigFrom(values: SweepFlagValues, fromFile: unknown, out: string): SweepConfig {
  if (fromFile !== undefined && (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)))
    throw new ConfigError('sweep', 'the pipeline file’s `sweep` export must be an object of sweep settings');
  const file = (fromFile ?? {}) as Record<string, unknown>;
  const slurmFlags: Record<string, unknown> = {};
  const set = (target: Record<string, unknown>, key: string, value: unknown) => {
    if (value !== undefined) target[key] = value;
  };
  set(slurmFlags, 'partition', values['slurm-partition']);
  set(slurmFlags, 'time', values['slurm-time']);
  set(slurmFlags, 'gpusPerTrial', optionalInt(values['slurm-gpus-per-trial'], '--slurm-gpus-per-trial', 0));
  set(slurmFlags, 'cpusPerTrial', optionalInt(values['slurm-cpus-per-trial'], '--slurm-cpus-per-trial', 1));
  set(slurmFlags, 'maxRunning', optionalInt(values['slurm-max-running'], '--slurm-max-running', 1));
  set(slurmFlags, 'args', values['slurm-args'] === undefined ? undefined : splitShellWords(values['slurm-args'], '--slurm-args'));
  if (values['slurm-poll-seconds'] !== undefined) {
    const seconds = numberFlag(values['slurm-poll-seconds'], '--slurm-poll-seconds', 5);
    if (seconds <= 0) throw new FlagError('--slurm-poll-seconds', `expected a number of seconds above 0, got '${seconds}'`);
    slurmFlags.pollSeconds = seconds;
  }
  const flags: Record<string, unknown> = {};
  set(flags, 'executor', values.executor);
  set(flags, 'trials', optionalInt(values.trials, '--trials', 1));
  set(flags, 'concurrency', optionalInt(values.concurrency, '--concurrency', 1));
  set(flags, 'eta', values.eta === undefined ? undefined : numberFlag(values.eta, '--eta', 3));
  set(flags, 'minEpochs', optionalInt(values['min-epochs'], '--min-epochs', 1));
  if (values.detach) flags.detach = true;
  const executor = flags.executor ?? file.executor ?? defaultSweepConfig.executor;
  const slurmFlag = Object.keys(values).find((name) => name.startsWith('slurm-') || name === 'detach');
  if (executor !== 'slurm' && slurmFlag) throw new FlagError(`--${slurmFlag}`, 'applies only with --executor slurm');
  if (flags.eta !== undefined && (flags.eta as number) <= 1) throw new FlagError('--eta', `got ${flags.eta}; expected a number above 1`);
  return validateSweepConfig({
    ...defaultSweepConfig,
    ...file,
    ...flags,
    out,
    slurm: { ...defaultSweepConfig.slurm, ...((file.slurm as Record<string, unknown> | undefined) ?? {}), ...slurmFlags },
  });
}

function optionalInt(value: string | undefined, flag: string, minimum: number): number | undefined {
  return value === undefined ? undefined : intFlag(value, flag, minimum, minimum);
}

/** One trial of an existing sweep, as a Slurm array task runs it; SIGTERM (preemption, scancel) makes it checkpoint and stop. */
async function trialMode(trial: string, out: string | undefined, json: boolean | undefined): Promise<void> {
  if (!out) throw new FlagError('--trial', 'needs --out <the sweep folder>');
  const id = trialId(intFlag(trial, '--trial', 0, 0));
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => stop.abort(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await runTrial(resolve(out), id, { signal: stop.signal });
    if (isInterrupted(outcome)) {
      report(json, { id, interrupted: outcome.interrupted }, `${id}: interrupted (${outcome.interrupted}) after writing a checkpoint`);
      process.exitCode = outcome.interrupted === 'SIGINT' ? 130 : 143;
      return;
    }
    report(
      json,
      outcome,
      outcome.ok ? `${id}: ${outcome.metric} after ${outcome.epochs} epochs` : `${id} failed: ${outcome.reason ?? 'no reason given'}`,
    );
    if (!outcome.ok) process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
