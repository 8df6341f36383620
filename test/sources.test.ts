import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { expandBraces } from '../src/data/brace.ts';
import { DataError } from '../src/errors.ts';
import { source } from '../stages/source.ts';
import { folderSource } from '../stages/source-folder.ts';
import { manifestSource } from '../stages/source-manifest.ts';
import { tarSource } from '../stages/source-tar.ts';
import { collect, testContext } from './helpers/context.ts';
import { jpegBytes, tempFolder, writeTar } from './helpers/images.ts';

test('reads class folders with any-case extensions, spaces and non-ASCII names', async () => {
  const root = tempFolder();
  mkdirSync(join(root, 'chat noir'));
  mkdirSync(join(root, 'größe', 'nested'), { recursive: true });
  const jpeg = await jpegBytes();
  writeFileSync(join(root, 'chat noir', 'Photo 1.JPG'), jpeg);
  writeFileSync(join(root, 'chat noir', 'notes.txt'), 'not an image');
  writeFileSync(join(root, 'größe', 'bild.jpeg'), jpeg);
  writeFileSync(join(root, 'größe', 'nested', 'tief.PnG'), jpeg);
  const dataset = folderSource(root);
  assert.deepEqual(dataset.classes.names, ['chat noir', 'größe']);
  const samples = await collect(dataset(testContext()));
  assert.deepEqual(samples.map((sample) => [sample.key, sample.classIndex]).sort(), [
    ['chat noir/Photo 1.JPG', 0],
    ['größe/bild.jpeg', 1],
    ['größe/nested/tief.PnG', 1],
  ]);
});

test('does not hang on a symlink loop inside a class folder', async () => {
  const root = tempFolder();
  mkdirSync(join(root, 'a'));
  writeFileSync(join(root, 'a', 'x.jpg'), await jpegBytes());
  symlinkSync(join(root, 'a'), join(root, 'a', 'loop'));
  const samples = await collect(folderSource(root)(testContext()));
  assert.deepEqual(
    samples.map((sample) => sample.key),
    ['a/x.jpg'],
  );
});

test('names the folder when it is missing or has no classes', async () => {
  assert.throws(
    () => folderSource('/no/such/folder'),
    (error: unknown) => error instanceof DataError && error.file === '/no/such/folder',
  );
  const empty = tempFolder();
  assert.throws(() => folderSource(empty), /no class sub-folders/);
});

test('reads CSV and JSONL manifests relative to their folder', async () => {
  const root = tempFolder();
  writeFileSync(join(root, 'a.jpg'), await jpegBytes());
  writeFileSync(join(root, 'list.csv'), 'path,label\na.jpg,cat\n"b, c.jpg",dog\n');
  writeFileSync(join(root, 'list.jsonl'), '{"path":"a.jpg","label":"cat"}\n{"path":"b.jpg","label":"dog"}\n');
  for (const file of ['list.csv', 'list.jsonl']) {
    const dataset = await manifestSource(join(root, file));
    assert.deepEqual(dataset.classes.names, ['cat', 'dog']);
    const samples = await collect(dataset(testContext()));
    assert.equal(samples[0].input, join(root, 'a.jpg'));
    assert.deepEqual(
      samples.map((sample) => sample.classIndex),
      [0, 1],
    );
  }
});

test('refuses a manifest label that is not a known class, naming the file and line', async () => {
  const root = tempFolder();
  writeFileSync(join(root, 'list.csv'), 'a.jpg,cat\nb.jpg,bird\n');
  const dataset = await manifestSource(join(root, 'list.csv'), { classes: ['cat', 'dog'] });
  await assert.rejects(collect(dataset(testContext())), /list\.csv:2: label 'bird' is not a known class/);
});

test('streams WebDataset shards, plain and gzipped, from a brace pattern', async () => {
  const root = tempFolder();
  const jpeg = await jpegBytes();
  await writeTar(join(root, 'shard-000.tar'), [
    { name: 'train/s1.jpg', body: jpeg },
    { name: 'train/s1.cls', body: '1' },
    { name: 'train/s2.png', body: jpeg },
    { name: 'train/s2.json', body: '{"label": 0}' },
  ]);
  await writeTar(join(root, 'shard-001.tar.gz'), [
    { name: 's3.jpg', body: jpeg },
    { name: 's3.txt', body: '1\n' },
  ]);
  await writeTar(join(root, 'shard-002.tar'), [{ name: 's4.cls', body: '0' }]);
  const mixed = await tarSource(join(root, 'shard-{000.tar,001.tar.gz}'));
  assert.deepEqual(
    (await collect(mixed(testContext()))).map((sample) => sample.key),
    ['train/s1.jpg', 'train/s2.png', 's3.jpg'],
  );

  const both = await source(join(root, 'shard-000.tar'));
  assert.deepEqual(both.classes.names, ['0', '1']);
  const gz = await collect((await tarSource(join(root, 'shard-001.tar.gz')))(testContext()));
  assert.deepEqual(
    gz.map((sample) => [sample.key, sample.label]),
    [['s3.jpg', '1']],
  );
  const context = testContext();
  const named = await tarSource(join(root, 'shard-{000..000}.tar'), { classes: ['cat', 'dog'] });
  const samples = await collect(named(context));
  assert.deepEqual(
    samples.map((sample) => [sample.key, sample.label]),
    [
      ['train/s1.jpg', 'dog'],
      ['train/s2.png', 'cat'],
    ],
  );
  const lonely = await collect((await tarSource(join(root, 'shard-002.tar'), { classes: ['a', 'b'] }))(context));
  assert.equal(lonely.length, 0);
  assert.match(context.quarantine.entries[0].reason, /no image member/);
});

test('names the shard when a tar ends in the middle of a member', async () => {
  const root = tempFolder();
  const whole = join(root, 'whole.tar');
  await writeTar(whole, [
    { name: 'a.jpg', body: await jpegBytes(200, 200) },
    { name: 'a.cls', body: '0' },
  ]);
  const { readFileSync } = await import('node:fs');
  const cut = join(root, 'cut.tar');
  writeFileSync(cut, readFileSync(whole).subarray(0, 1000));
  await assert.rejects(
    tarSource(cut),
    (error: unknown) => error instanceof DataError && error.file === cut && /ends in the middle/.test(error.message),
  );
});

test('treats tar member names as keys only: absolute and .. names write nothing anywhere', async () => {
  const root = tempFolder();
  const jpeg = await jpegBytes();
  await writeTar(join(root, 'evil.tar'), [
    { name: '../../escape.jpg', body: jpeg },
    { name: '../../escape.cls', body: '0' },
    { name: '/etc/abs.jpg', body: jpeg },
    { name: '/etc/abs.cls', body: '0' },
  ]);
  const before = readdirSync(join(root, '..')).length;
  const samples = await collect((await tarSource(join(root, 'evil.tar')))(testContext()));
  assert.deepEqual(
    samples.map((sample) => sample.key),
    ['../../escape.jpg', '/etc/abs.jpg'],
  );
  assert.ok(
    samples.every((sample) => Buffer.isBuffer(sample.input)),
    'pixels come from the tar, never from a path',
  );
  assert.equal(readdirSync(join(root, '..')).length, before);
  assert.equal(existsSync('/etc/abs.jpg'), false);
});

test('expands numeric and list brace patterns', () => {
  assert.deepEqual(expandBraces('s-{008..011}.tar'), ['s-008.tar', 's-009.tar', 's-010.tar', 's-011.tar']);
  assert.deepEqual(expandBraces('{a,b}-{1..2}'), ['a-1', 'a-2', 'b-1', 'b-2']);
  assert.deepEqual(expandBraces('plain.tar'), ['plain.tar']);
});

test('names a missing shard before reading any', async () => {
  const root = tempFolder();
  await assert.rejects(tarSource(join(root, 'shard-{0..1}.tar')), /shard-0\.tar: shard not found/);
});
