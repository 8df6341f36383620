import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TooManyQuarantined } from '../src/errors.ts';
import { Quarantine } from '../src/stream/quarantine.ts';
import { lastJson, streamfit } from './helpers/cli.ts';
import { tempFolder } from './helpers/images.ts';
import { fixtureFolder } from './helpers/tiny-dataset.ts';

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);

test('a file that fails again (every epoch, or listed twice) is one entry, one line, one count', () => {
  const file = join(tempFolder(), 'quarantine.jsonl');
  const quarantine = new Quarantine(file);
  for (let epoch = 0; epoch < 3; epoch++) {
    quarantine.record('/data/a.jpg', 'truncated');
    quarantine.record('/data/b.jpg', 'not an image');
  }
  assert.equal(quarantine.count, 2);
  assert.deepEqual(
    lines(file).map((line) => JSON.parse(line).path),
    ['/data/a.jpg', '/data/b.jpg'],
  );
});

test('a resumed run takes in the entries already written: neither written nor counted twice', () => {
  const file = join(tempFolder(), 'quarantine.jsonl');
  new Quarantine(file).record('/data/a.jpg', 'truncated');
  writeFileSync(file, `${readFileSync(file, 'utf8')}{"path": "/data/cut`); // a line cut short by a crash
  const resumed = new Quarantine(file);
  resumed.load();
  assert.equal(resumed.count, 1);
  resumed.record('/data/a.jpg', 'truncated');
  resumed.record('/data/c.jpg', 'not an image');
  assert.equal(resumed.count, 2);
  assert.equal(lines(file).filter((line) => line.includes('/data/a.jpg')).length, 1);
});

test('the limit throws on the record that passes it, naming the count, the share and the file', () => {
  const memoryOnly = new Quarantine();
  memoryOnly.setLimit({ files: 40, share: 0.05 });
  memoryOnly.record('a', 'bad');
  memoryOnly.record('b', 'bad'); // 2 of 40 is 5 %: still allowed
  assert.throws(
    () => memoryOnly.record('c', 'bad'),
    (error: unknown) =>
      error instanceof TooManyQuarantined &&
      error.message === '3 of 40 files quarantined (7.5 %), more than maxQuarantined 5.0 % allows: the run stops',
  );
  assert.equal(memoryOnly.count, 3, 'the record is kept: the error reports it');
});

test('inspect counts a file a manifest lists twice once: decoded + quarantined == files', async () => {
  const root = tempFolder();
  mkdirSync(join(root, 'images'));
  copyFileSync(join(fixtureFolder, 'horizontal', 'horizontal-000.jpg'), join(root, 'images', 'good.jpg'));
  writeFileSync(join(root, 'images', 'bad.jpg'), 'not an image');
  const rows = ['images/good.jpg,horizontal', 'images/bad.jpg,vertical', 'images/good.jpg,horizontal', 'images/bad.jpg,vertical'];
  writeFileSync(join(root, 'labels.csv'), `path,label\n${rows.join('\n')}\n`);
  const { code, stdout } = await streamfit(['inspect', join(root, 'labels.csv'), '--image-size', '32', '--json']);
  assert.equal(code, 0);
  const result = lastJson(stdout) as { files: number; decoded: number; quarantined: unknown[]; duplicates: number };
  assert.deepEqual([result.files, result.decoded, result.quarantined.length, result.duplicates], [2, 1, 1, 2]);
});
