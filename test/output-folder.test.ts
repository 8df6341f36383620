import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, RunFolderInUse } from '../src/errors.ts';
import { lockFileName, lockFolder } from '../src/train/folder-lock.ts';
import { checkOutputFolder, claimOutputFolder, markerFiles, markFolder } from '../src/train/output-folder.ts';
import { tempFolder } from './helpers/images.ts';

function refusedFor(path: string, reason: RegExp, options: Parameters<typeof checkOutputFolder>[2] = {}) {
  assert.throws(
    () => checkOutputFolder(path, 'run', options),
    (error: unknown) => error instanceof ConfigError && error.field === 'out' && reason.test(error.message),
  );
}

test('--out is refused, naming why: the current directory, the dataset or inside it, a foreign non-empty folder, a sweep', () => {
  const root = tempFolder();
  const data = join(root, 'data');
  mkdirSync(join(data, 'cats'), { recursive: true });
  refusedFor(root, /is the current directory: a run writes its files into its own folder/, { cwd: root });
  refusedFor(data, /is the dataset’s folder: a run folder there would be read as data/, { data });
  refusedFor(join(data, 'cats', 'run'), /is inside the dataset .*data: a run folder there would be read as data/, { data });
  const photos = join(root, 'photos');
  mkdirSync(photos);
  writeFileSync(join(photos, 'report.html'), 'mine');
  refusedFor(photos, /holds files and is not a streamfit run \(it has no \.streamfit-run\): streamfit writes only into folders it made/);
  const sweep = join(root, 'sweep');
  markFolder(sweep, 'sweep');
  refusedFor(sweep, /is a streamfit sweep folder, not a run/);
  // A manifest's folder is refused; a run beside it, under the same parent, is not (the manifest names its files).
  writeFileSync(join(root, 'labels.csv'), 'path,label\n');
  refusedFor(root, /is the dataset’s folder/, { data: join(root, 'labels.csv'), cwd: '/' });
  assert.doesNotThrow(() => checkOutputFolder(join(root, 'runs', 'new'), 'run', { data: join(root, 'labels.csv') }));
  // An empty folder, a new one, and a run folder made before markers (it has a checkpoint) are accepted.
  mkdirSync(join(root, 'empty'));
  assert.doesNotThrow(() => checkOutputFolder(join(root, 'empty'), 'run', { data }));
  mkdirSync(join(root, 'old-run', 'checkpoints'), { recursive: true });
  writeFileSync(join(root, 'old-run', 'checkpoints', 'latest.json'), '{}');
  assert.doesNotThrow(() => checkOutputFolder(join(root, 'old-run'), 'run', { data }));
});

test('a claimed folder is marked and locked; a folder holding a run needs --resume; a folder nothing was written into goes away', () => {
  const root = tempFolder();
  const out = join(root, 'run');
  const claim = claimOutputFolder(out, 'run');
  assert.deepEqual(readdirSync(out).sort(), [markerFiles.run, lockFileName].sort());
  assert.throws(
    () => claimOutputFolder(out, 'run'),
    (error: unknown) => error instanceof RunFolderInUse && error.message.includes(`streamfit process ${process.pid}`),
  );
  claim.release();
  assert.equal(existsSync(out), false, 'released with nothing written: the folder this claim made is removed');

  const kept = claimOutputFolder(out, 'run');
  mkdirSync(join(out, 'checkpoints'));
  writeFileSync(join(out, 'checkpoints', 'latest.json'), '{}');
  writeFileSync(join(out, 'metrics.jsonl'), '{"old": true}\n');
  kept.release();
  assert.equal(existsSync(join(out, lockFileName)), false);
  assert.throws(() => claimOutputFolder(out, 'run'), /already holds a run; pass --resume to continue it or choose another --out/);
  claimOutputFolder(out, 'run', { resume: true }).release();
  assert.equal(existsSync(join(out, 'metrics.jsonl')), true, 'a resumed run appends to its own metrics');
});

test('a lock whose process is gone is stale and taken over; a live one, or one on another host, is not', async () => {
  const folder = tempFolder();
  const exited = spawn(process.execPath, ['-e', '0']);
  const deadPid = await new Promise<number>((resolve) => exited.on('exit', () => resolve(exited.pid!)));
  const holder = (fields: Record<string, unknown>) =>
    writeFileSync(join(folder, lockFileName), JSON.stringify({ pid: deadPid, host: hostname(), command: 'x', since: 'then', ...fields }));

  holder({}); // what a kill -9 leaves
  lockFolder(folder).release();
  assert.equal(existsSync(join(folder, lockFileName)), false);

  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  try {
    holder({ pid: sleeper.pid });
    assert.throws(
      () => lockFolder(folder),
      (error: unknown) => error instanceof RunFolderInUse && error.message.includes(`process ${sleeper.pid}`),
    );
  } finally {
    sleeper.kill();
  }
  holder({ host: 'elsewhere' });
  assert.throws(
    () => lockFolder(folder),
    /in use by streamfit process \d+ on elsewhere .*; if that process is gone, delete .*\.streamfit-lock/,
  );
  // The same Slurm task requeued on another node: Slurm runs one incarnation at a time, so the old lock is stale.
  holder({ host: 'elsewhere', slurmTask: '77_3' });
  lockFolder(folder, { SLURM_ARRAY_JOB_ID: '77', SLURM_ARRAY_TASK_ID: '3' }).release();
});
