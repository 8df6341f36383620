import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { awkwardImages, brokenImages, tempFolder } from './helpers/images.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'bin', 'streamfit.js');

test('inspect reports every file as decoded or quarantined, with classes and oriented sizes', async () => {
  const root = tempFolder();
  mkdirSync(join(root, 'good'));
  mkdirSync(join(root, 'bad'));
  const images = await awkwardImages(join(root, 'good'));
  await brokenImages(join(root, 'bad'));
  copyFileSync(images['rotated.jpg'], join(root, 'bad', 'fine.jpg'));
  const { stdout } = await run(process.execPath, [cli, 'inspect', root, '--image-size', '32', '--json']);
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  assert.equal(result.files, Object.keys(images).length + 4 + 1);
  assert.equal(result.decoded + result.quarantined.length, result.files);
  assert.equal(result.quarantined.length, 4);
  assert.deepEqual(result.classes, { bad: 1, good: Object.keys(images).length });
  const rotated = result.images.find((image: { path: string }) => image.path.endsWith('good/rotated.jpg'));
  assert.deepEqual([rotated.width, rotated.height], [20, 40]);
  assert.equal(result.images.length, result.decoded);
});

test('inspect fails with one line naming a missing dataset or a bad flag', async () => {
  await assert.rejects(run(process.execPath, [cli, 'inspect', '/no/such/data']), (error: { code: number; stderr: string }) => {
    assert.equal(error.code, 1);
    assert.equal(error.stderr.trim(), 'streamfit: /no/such/data: no such file or folder');
    return true;
  });
  const root = tempFolder();
  writeFileSync(join(root, 'x.txt'), '');
  await assert.rejects(run(process.execPath, [cli, 'inspect', root, '--image-size', 'big']), /flag --image-size: expected an integer/);
  await assert.rejects(run(process.execPath, [cli, 'inspect', root, '--colour', 'red']), /flag --colour/);
});
