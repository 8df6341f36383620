// `streamfit sweep`: trials of a search space, each a training run in its own folder and process, pruned by successive halving.

import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import { heapFlags } from '../src/config/heap-flags.ts';
import { ConfigError } from '../src/errors.ts';
import { promote, rungEpochs } from '../src/sweep/halving.ts';
import { type TrialRecord, writeSweepResults } from '../src/sweep/results.ts';
import { type SearchSpace, sampleTrials, validateSearchSpace } from '../src/sweep/space.ts';
import { intFlag, numberFlag, parseFlags, report } from './args.ts';
import { configFromFlags, loadPipeline, resolveRunConfig, runFlags } from './run-config.ts';

export const defaultSweepFile = 'pipelines/sweep.ts';
const cli = fileURLToPath(new URL('../bin/streamfit.js', import.meta.url));
/** Flags a trial does not inherit from the sweep's command line: the sweep sets them per trial. */
const perTrialFlags = new Set(['out', 'name', 'epochs', 'overrides', 'config']);

export async function sweepCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, {
    ...runFlags,
    trials: { type: 'string' },
    concurrency: { type: 'string' },
    eta: { type: 'string' },
    'min-epochs': { type: 'string' },
  });
  const pipelineFile = values.config ?? defaultSweepFile;
  const pipeline = await loadPipeline(pipelineFile);
  const module = (await import(pathToFileURL(resolve(pipelineFile)).href)) as { space?: unknown };
  if (!module.space) throw new ConfigError('space', `${pipelineFile} must export \`space\` (a search space)`);
  const space: SearchSpace = validateSearchSpace(module.space);
  const flags = configFromFlags(values);
  const base = resolveRunConfig(pipeline, { ...flags, name: flags.name ?? 'sweep' }); // validates the shared config before any work
  const sweepDir = resolve(String(flags.out ?? join('runs', String(flags.name ?? pipeline.config.name ?? 'sweep'))));
  const trialCount = intFlag(values.trials, '--trials', 8);
  // Trials share the machine's cores: default one at a time (on a GPU, one process owns the card).
  const concurrency = intFlag(values.concurrency, '--concurrency', 1);
  const eta = numberFlag(values.eta, '--eta', 3);
  if (eta <= 1) throw new ConfigError('eta', `got ${eta}; expected a number above 1`);
  const minEpochs = intFlag(values['min-epochs'], '--min-epochs', 1);
  const metric = space.metric ?? 'valAccuracy';
  const higherIsBetter = metric === 'valAccuracy';
  const log = (line: string) => process.stderr.write(`${line}\n`);

  mkdirSync(sweepDir, { recursive: true });
  const trials = loadOrCreateTrials(sweepDir, space, trialCount, base.seed);
  const rungs = rungEpochs(Math.min(minEpochs, base.epochs), base.epochs, eta);
  log(`sweep ${sweepDir}: ${trials.length} trials, rungs at epochs ${rungs.join(', ')}, ${concurrency} at a time`);
  const limit = pLimit(concurrency);
  const childArgs = Object.entries(values)
    .filter(([name, value]) => name in runFlags && !perTrialFlags.has(name) && value !== undefined)
    .flatMap(([name, value]) => [`--${name}`, String(value)]);

  let active = trials.filter((trial) => trial.status !== 'failed' && trial.status !== 'stopped');
  for (const [rungIndex, epochs] of rungs.entries()) {
    await Promise.all(active.map((trial) => limit(() => runTrial(trial, epochs, pipelineFile, childArgs, sweepDir, metric, log))));
    saveTrials(sweepDir, trials);
    const alive = active.filter((trial) => trial.status !== 'failed');
    if (rungIndex === rungs.length - 1) {
      for (const trial of alive) trial.status = 'done';
      break;
    }
    const promoted = new Set(promote(alive, eta, higherIsBetter));
    for (const trial of alive) {
      if (promoted.has(trial.id)) continue;
      trial.status = 'stopped';
      trial.reason = `stopped by successive halving after ${trial.epochs} epoch${trial.epochs === 1 ? '' : 's'}`;
    }
    active = alive.filter((trial) => promoted.has(trial.id));
    log(`rung ${rungIndex + 1}: ${promoted.size} of ${alive.length} go on to ${rungs[rungIndex + 1]} epochs`);
  }
  saveTrials(sweepDir, trials);
  const { name, out, ...shared } = base;
  void name;
  void out;
  const best = writeSweepResults(sweepDir, trials, metric, higherIsBetter, shared);
  const failed = trials.filter((trial) => trial.status === 'failed').length;
  const result = {
    sweepDir,
    metric,
    trials: trials.map(({ id, params, status, metric: value, epochs, reason }) => ({ id, params, status, metric: value, epochs, reason })),
    best: best ? { id: best.id, params: best.params, metric: best.metric } : null,
    failed,
  };
  report(
    values.json,
    result,
    `sweep done: best ${best ? `${best.id} ${metric} ${best.metric?.toFixed(4)} ${JSON.stringify(best.params)}` : 'none'}; ${failed} failed; report: ${join(sweepDir, 'report.html')}`,
  );
}

function loadOrCreateTrials(sweepDir: string, space: SearchSpace, count: number, seed: number): TrialRecord[] {
  const file = join(sweepDir, 'sweep.json');
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { space: SearchSpace; trials: TrialRecord[] };
    if (JSON.stringify(saved.space) !== JSON.stringify(space))
      throw new ConfigError('space', `${file} holds a sweep of another search space; use another --out`);
    return saved.trials;
  }
  const trials: TrialRecord[] = sampleTrials(space, count, seed).map((params, i) => ({
    id: `trial-${String(i).padStart(3, '0')}`,
    params,
    status: 'pending',
    metric: null,
    epochs: 0,
  }));
  writeFileSync(file, JSON.stringify({ space, trials }, null, 2));
  return trials;
}

function saveTrials(sweepDir: string, trials: TrialRecord[]): void {
  const file = join(sweepDir, 'sweep.json');
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { space: SearchSpace };
  writeFileSync(file, JSON.stringify({ space: saved.space, trials }, null, 2));
}

/** Trains a trial up to `epochs` in a child process (resuming its checkpoint), so a crash or an out-of-memory abort ends only that trial. */
async function runTrial(
  trial: TrialRecord,
  epochs: number,
  pipelineFile: string,
  childArgs: string[],
  sweepDir: string,
  metric: string,
  log: (line: string) => void,
): Promise<void> {
  if (trial.epochs >= epochs && trial.status !== 'pending') return; // reached on an earlier run of the sweep
  const folder = join(sweepDir, trial.id);
  mkdirSync(folder, { recursive: true });
  const overrides = join(folder, 'overrides.json');
  writeFileSync(overrides, JSON.stringify({ ...trial.params, epochs, name: trial.id }, null, 2));
  const resume = existsSync(join(folder, 'checkpoints', 'latest.json'));
  const args = [
    cli,
    'train',
    '--config',
    pipelineFile,
    ...childArgs,
    '--overrides',
    overrides,
    '--out',
    folder,
    ...(resume ? ['--resume'] : []),
    '--json',
  ];
  trial.status = 'running';
  const started = performance.now();
  const { code, stdout, lastError } = await runChild(args, join(folder, 'log.txt'));
  trial.seconds = (trial.seconds ?? 0) + (performance.now() - started) / 1000;
  if (code !== 0) {
    trial.status = 'failed';
    trial.reason = lastError ?? `exited with code ${code}`;
    log(`${trial.id} failed: ${trial.reason}`);
    return;
  }
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number | null>;
  trial.metric = result[metric] ?? null;
  trial.epochs = result.epochs ?? epochs;
  if (result.featureCache) trial.cached = (result.featureCache as unknown as string) === 'hit';
  log(`${trial.id} ${JSON.stringify(trial.params)}: ${metric} ${trial.metric?.toFixed(4)} after ${trial.epochs} epochs`);
}

function runChild(args: string[], logFile: string): Promise<{ code: number | null; stdout: string; lastError?: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [...heapFlags(), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.max(4, availableParallelism())) },
    });
    let stdout = '';
    let lastError: string | undefined;
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      appendFileSync(logFile, chunk);
      for (const line of chunk.toString().split('\n'))
        if (line.startsWith('streamfit:')) lastError = line.slice('streamfit:'.length).trim();
    });
    child.on('close', (code) => resolvePromise({ code, stdout, lastError }));
  });
}
