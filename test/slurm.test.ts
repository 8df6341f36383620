// Sweeps on a real single-node Slurm cluster (scripts/slurm-dev.sh): the executor slurm against the local one, a node that
// dies mid-trial, and a sweep cancelled with scancel then run again. The tests bring the cluster up if it is not, and down again.

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, hostname, tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { isLive, squeueTasks } from '../src/sweep/slurm-commands.ts';
import { fixtureFolder } from './helpers/tiny-dataset.ts';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');
const cli = join(root, 'bin', 'streamfit.js');
const devScript = join(root, 'scripts', 'slurm-dev.sh');
const clusterDir = process.env.STREAMFIT_SLURM_DIR ?? '/var/lib/streamfit-slurm-dev';
// Not under /tmp: with the executor slurm a sweep folder must be one every node sees, and /tmp is refused. Under the
// repository, unless the checkout itself is under /tmp (a CI clone into mktemp -d): then under the home directory.
const underTmp = (folder: string) => ['/tmp', tmpdir()].some((local) => folder === local || folder.startsWith(local + sep));
const workParent = underTmp(root) ? join(homedir(), '.cache', 'streamfit-tests') : join(root, 'runs');
const work = join(workParent, `test-slurm-${process.pid}`);
const minutes = 60_000;

let cluster: Promise<{ startedHere: boolean }> | undefined;
// One cluster a machine (fixed ports): a second test run (another checkout) waits for this one, which may take it down.
const lock = `${clusterDir}.tests-lock`;

async function takeLock(): Promise<void> {
  while (true) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(existsSync(join(lock, 'pid')) ? readFileSync(join(lock, 'pid'), 'utf8') : 0);
      if (holder && !processAlive(holder)) rmSync(lock, { recursive: true, force: true });
      else await sleep(1000);
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const cannotRun = 'the Slurm tests need a single-node Slurm cluster and none could be brought up';
const howToBringUp =
  'On Debian or Ubuntu, as root: `eval "$(scripts/slurm-dev.sh up)"` installs slurmctld, slurmd, slurm-client and munge with apt-get and starts them; then run the tests again.';

/** The cluster, brought up on first use; a machine that cannot run one fails the test with what to do. */
function slurm(): Promise<{ startedHere: boolean }> {
  cluster ??= (async () => {
    try {
      await takeLock();
    } catch (error) {
      throw new Error(`${cannotRun} (its lock ${lock}: ${(error as Error).message}). ${howToBringUp}`);
    }
    const running = await exec(devScript, ['status']).then(
      () => true,
      () => false,
    );
    if (!running) {
      try {
        const { stdout } = await exec(devScript, ['up'], { env: { ...process.env, STREAMFIT_SLURM_OWNER: 'tests' } });
        assert.match(stdout, /^export SLURM_CONF=/m);
      } catch (error) {
        const said = ((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
        throw new Error(`${cannotRun} (${said}). ${howToBringUp}`);
      }
    }
    process.env.SLURM_CONF = join(clusterDir, 'slurm.conf');
    return { startedHere: !running };
  })();
  return cluster;
}

after(async () => {
  for (const child of children) child.kill('SIGTERM'); // a failed test's sweep: it cancels its jobs and stops
  await waitFor('the sweeps of failed tests to stop', 60, () => children.size === 0).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
  if (underTmp(root) && existsSync(workParent) && readdirSync(workParent).length === 0) rmSync(workParent, { recursive: true });
  if (cluster && (await cluster.catch(() => ({ startedHere: false }))).startedHere) await exec(devScript, ['down']);
  if (existsSync(join(lock, 'pid')) && readFileSync(join(lock, 'pid'), 'utf8') === String(process.pid))
    rmSync(lock, { recursive: true, force: true });
});

let prepared: Promise<void> | undefined;

/** Fixture images (24 a class: epochs of a few seconds, long enough to stop a trial inside one), initial weights every trial starts from, so runs differ only by their parameters. */
function prepareWork(): Promise<void> {
  prepared ??= (async () => {
    for (const name of ['horizontal', 'vertical']) {
      mkdirSync(join(work, 'data', name), { recursive: true });
      for (let i = 0; i < 24; i++)
        copyFileSync(join(fixtureFolder, name, `${name}-${String(i).padStart(3, '0')}.jpg`), join(work, 'data', name, `${i}.jpg`));
      mkdirSync(join(work, 'small', name), { recursive: true });
      for (let i = 0; i < 8; i++)
        copyFileSync(join(fixtureFolder, name, `${name}-${String(i).padStart(3, '0')}.jpg`), join(work, 'small', name, `${i}.jpg`));
    }
    const { selectBackend } = await import('../src/backend/ladder.ts');
    const { createModel } = await import('../src/models/create-model.ts');
    const { saveModel } = await import('../src/models/weights-io.ts');
    await selectBackend('wasm');
    const { model } = await createModel('efficientnet-b0', { classes: 2, imageSize: 32, dropout: 0 });
    await saveModel(model, join(work, 'init'));
    model.dispose();
  })();
  return prepared;
}

function pipelineFile(name: string, space: object, config: object): string {
  const file = join(work, `${name}.ts`);
  writeFileSync(
    file,
    `import { pipeline as base } from ${JSON.stringify(join(root, 'pipelines', 'default.ts'))};
export const space = ${JSON.stringify(space)};
export const pipeline = { ...base, config: { ...base.config, name: '${name}', dropout: 0, microBatch: 4, ...${JSON.stringify(config)} } };
`,
  );
  return file;
}

const trainFlags = (data: string) => [
  '--data',
  join(work, data),
  '--model',
  'efficientnet-b0',
  '--weights',
  join(work, 'init'),
  '--image-size',
  '32',
  '--backend',
  'wasm',
];

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

function streamfit(args: string[]): Promise<Finished> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.on('exit', () => children.delete(child));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

const lastJson = (run: Finished) => JSON.parse(run.stdout.trim().split('\n').pop()!);
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

/** The epoch the trial's latest checkpoint continues from (0 before its first). */
function checkpointEpoch(sweepDir: string, id: string): number {
  const pointer = join(sweepDir, id, 'checkpoints', 'latest.json');
  if (!existsSync(pointer)) return 0;
  try {
    return Number(/^epoch-(\d+)/.exec(readJson(pointer).folder)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** The epochs a trial's metrics.jsonl records, in order: each must appear once however often the trial was resumed. */
function epochsLogged(sweepDir: string, id: string): number[] {
  return readFileSync(join(sweepDir, id, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line))
    .filter((record) => record.type === 'epoch')
    .map((record) => record.epoch);
}

async function waitFor<T>(what: string, seconds: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    await sleep(50);
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

test('a 4-trial halving sweep on Slurm matches the local executor: same trials, same decisions, same metrics', {
  timeout: 5 * minutes,
}, async () => {
  await slurm();
  await prepareWork();
  const config = pipelineFile(
    'match',
    { method: 'grid', metric: 'valLoss', parameters: { lr: { grid: [1e-4, 3e-3, 3e-2, 0.3] } } },
    { epochs: 2 },
  );
  const common = ['sweep', '--config', config, ...trainFlags('small'), '--trials', '4', '--eta', '2', '--json'];
  const [local, onSlurm] = await Promise.all([
    streamfit([...common, '--out', join(work, 'match-local'), '--concurrency', '2']),
    streamfit([
      ...common,
      '--out',
      join(work, 'match-slurm'),
      '--executor',
      'slurm',
      '--slurm-gpus-per-trial',
      '1',
      '--slurm-max-running',
      '2',
      '--slurm-poll-seconds',
      '0.5',
    ]),
  ]);
  assert.equal(local.code, 0, local.stderr);
  assert.equal(onSlurm.code, 0, onSlurm.stderr);
  const a = lastJson(local);
  const b = lastJson(onSlurm);
  assert.equal(a.executor, 'local');
  assert.equal(b.executor, 'slurm');
  assert.deepEqual(
    b.trials.map(({ id, params, status, epochs }: Record<string, unknown>) => ({ id, params, status, epochs })),
    a.trials.map(({ id, params, status, epochs }: Record<string, unknown>) => ({ id, params, status, epochs })),
    'same trials, same halving decisions',
  );
  assert.deepEqual(
    a.trials.map((trial: { status: string }) => trial.status),
    ['done', 'done', 'stopped', 'stopped'],
  );
  // Runs are reproducible (the same seed and backend give the same weights, resumed or not): the same metrics, bit for bit.
  for (const [i, trial] of b.trials.entries()) assert.equal(trial.metric, a.trials[i].metric, trial.id);
  assert.equal(b.best.id, a.best.id);

  const sweepDir = join(work, 'match-slurm');
  for (const trial of b.trials) {
    assert.match(trial.jobId, /^\d+_\d$/);
    assert.equal(trial.node, hostname());
    assert.equal(trial.jobId.split('_')[1], String(Number(trial.id.slice(6))), 'the array task id is the trial number');
    assert.ok(['0', '1'].includes(readJson(join(sweepDir, trial.id, 'result.json')).gpus), 'each trial got one of the two GPUs');
  }
  for (const trial of a.trials) assert.equal(trial.jobId, undefined);
  const arrays = readJson(join(sweepDir, 'slurm', 'arrays.json'));
  assert.deepEqual(
    arrays.map((array: { tasks: number[]; epochs: number }) => [array.epochs, array.tasks]),
    [
      [1, [0, 1, 2, 3]],
      [2, [0, 1]],
    ],
    'one job array a rung',
  );
  assert.match(onSlurm.stderr, /sbatch --array=0-3%2 --requeue --open-mode=append .*--gres=gpu:1/);
  const csv = readFileSync(join(sweepDir, 'results.csv'), 'utf8').split('\n');
  assert.match(csv[0], /,jobId,node$/);
  assert.doesNotMatch(readFileSync(join(work, 'match-local', 'results.csv'), 'utf8').split('\n')[0], /jobId/);
  assert.match(readFileSync(join(sweepDir, 'report.html'), 'utf8'), /<th>job<\/th><th>node<\/th>/);
});

test('a node that dies mid-trial: Slurm requeues the task and the trial resumes from its checkpoint, no finished epoch redone; a failing trial is recorded', {
  timeout: 5 * minutes,
}, async () => {
  await slurm();
  await prepareWork();
  const config = pipelineFile('node', { method: 'grid', parameters: { microBatch: { grid: [4, 0] } } }, { epochs: 3 });
  const sweepDir = join(work, 'node');
  const sweep = streamfit([
    'sweep',
    '--config',
    config,
    ...trainFlags('data'),
    '--trials',
    '2',
    '--min-epochs',
    '3',
    '--out',
    sweepDir,
    '--executor',
    'slurm',
    '--slurm-poll-seconds',
    '0.5',
    '--json',
  ]);
  // Right after the first epoch's checkpoint: the node dies early in epoch 2, far from the end-of-epoch bookkeeping.
  await waitFor('trial-000 to finish its first epoch', 120, () => checkpointEpoch(sweepDir, 'trial-000') >= 1);
  const jobId = readJson(join(sweepDir, 'slurm', 'arrays.json'))[0].jobId;
  const taskJob = (await exec('squeue', ['-h', '-j', `${jobId}_0`, '-o', '%A'])).stdout.trim(); // listpids wants the plain id
  const { stdout } = await exec('scontrol', ['listpids', taskJob]);
  const pids = stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => Number(line.trim().split(/\s+/)[0]))
    .filter((pid) => pid > 0);
  assert.ok(pids.length >= 2, `the trial's processes: ${stdout}`);
  const stepds = pids
    .map((pid) => Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]))
    .filter((parent) => readFileSync(`/proc/${parent}/comm`, 'utf8').trim() === 'slurmstepd');
  const slurmd = Number(readFileSync(join(clusterDir, 'run', 'slurmd.pid'), 'utf8'));
  for (const pid of [slurmd, ...new Set(stepds), ...pids]) process.kill(pid, 'SIGKILL');
  assert.equal(existsSync(join(sweepDir, 'trial-000', 'result.json')), false, 'killed before the trial finished');

  await waitFor('slurmctld to mark the node down', 120, async () => /down/.test((await exec('sinfo', ['-h', '-N', '-o', '%T'])).stdout));
  await exec(devScript, ['up']); // the node comes back: slurmd starts again
  const run = await sweep;
  assert.equal(run.code, 0, run.stderr);
  const result = lastJson(run);
  const [good, bad] = result.trials;
  assert.equal(good.status, 'done');
  assert.equal(good.epochs, 3);
  assert.equal(good.jobId, `${jobId}_0`);
  assert.match(run.stderr, new RegExp(`trial-000 \\(job ${jobId}_0\\) was requeued by Slurm`));
  const log = readFileSync(join(sweepDir, 'trial-000', 'log.txt'), 'utf8');
  assert.match(log, /resuming from .*\(epoch 2, batch 0\)/);
  assert.deepEqual(epochsLogged(sweepDir, 'trial-000'), [0, 1, 2], 'each epoch trained once');
  assert.equal(bad.status, 'failed');
  assert.match(bad.reason, /microBatch/);
  assert.equal(bad.jobId, `${jobId}_1`);
  assert.equal(result.failed, 1);
});

test('scancel of a detached sweep, then the same command again, resumes it', { timeout: 10 * minutes }, async () => {
  await slurm();
  await prepareWork();
  const config = pipelineFile('cancel', { method: 'grid', parameters: { lr: { grid: [1e-3, 3e-2] } } }, { epochs: 3 });
  const sweepDir = join(work, 'cancel');
  const command = [
    'sweep',
    '--config',
    config,
    ...trainFlags('data'),
    '--trials',
    '2',
    '--min-epochs',
    '2',
    '--eta',
    '2',
    '--out',
    sweepDir,
    '--executor',
    'slurm',
    '--slurm-poll-seconds',
    '0.5',
    '--detach',
    '--json',
  ];
  const first = await streamfit(command);
  assert.equal(first.code, 0, first.stderr);
  const controller = lastJson(first);
  assert.equal(controller.detached, true);
  assert.match(controller.jobId, /^\d+$/);
  const jobName = `streamfit-sweep:${sweepDir.split('/').pop()}`;
  await waitFor('trial-000 to finish its first epoch', 120, () => checkpointEpoch(sweepDir, 'trial-000') >= 1);
  await exec('scancel', [`--name=${jobName}`]);
  await waitFor('every job of the sweep to end', 120, async () => {
    const jobs = readJson(join(sweepDir, 'slurm', 'arrays.json')).map((array: { jobId: string }) => array.jobId);
    return !(await squeueTasks([controller.jobId, ...jobs])).some(isLive);
  });
  const stopped = readJson(join(sweepDir, 'sweep.json')).trials;
  assert.ok(
    stopped.some((trial: { rungs?: unknown[] }) => !trial.rungs),
    'the cancel interrupted a trial mid-rung',
  );
  assert.match(readFileSync(join(sweepDir, 'controller.log'), 'utf8'), /sweep interrupted: run the same command again/);

  const again = await streamfit(command);
  assert.equal(again.code, 0, again.stderr);
  const second = lastJson(again).jobId;
  assert.notEqual(second, controller.jobId);
  await waitFor('the second controller to finish', 180, async () => !(await squeueTasks([second])).some(isLive));
  const results = readJson(join(sweepDir, 'results.json'));
  assert.deepEqual(results.trials.map((trial: { status: string }) => trial.status).sort(), ['done', 'stopped']);
  const done = results.trials.find((trial: { status: string }) => trial.status === 'done');
  assert.equal(done.epochs, 3);
  let resumed = 0;
  for (const trial of results.trials) {
    const log = readFileSync(join(sweepDir, trial.id, 'log.txt'), 'utf8');
    if (/SIGTERM received: checkpoint written/.test(log)) {
      assert.match(log, /resuming from/);
      resumed++;
    }
    assert.deepEqual(epochsLogged(sweepDir, trial.id), trial.id === done.id ? [0, 1, 2] : [0, 1], `${trial.id}: each epoch trained once`);
  }
  assert.ok(resumed >= 1, 'a trial stopped by scancel resumed from the checkpoint it wrote on SIGTERM');
  assert.match(readFileSync(join(sweepDir, 'controller.log'), 'utf8'), /sweep done: best/);
});
