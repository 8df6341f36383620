import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { tempFolder } from './helpers/images.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

test('the custom pipeline example in README.md runs and quarantines with its own stage', async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /<!-- example: custom-pipeline[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README has the marked example');
  const folder = join(root, 'runs', 'readme-example');
  mkdirSync(folder, { recursive: true });
  const script = join(folder, 'pipeline.ts');
  writeFileSync(script, block[1]);

  const data = tempFolder();
  for (const name of ['a', 'b']) mkdirSync(join(data, name));
  const shapes = join(root, 'fixtures', 'generated', 'shapes');
  for (let i = 0; i < 5; i++) copyFileSync(join(shapes, 'disc', `disc-00${i}.jpg`), join(data, 'a', `${i}.jpg`));
  await sharp({ create: { width: 50, height: 40, channels: 3, background: '#808080' } })
    .jpeg()
    .toFile(join(data, 'b', 'blank.jpg'));

  const { stdout } = await run(process.execPath, ['--import', 'tsx', script, data], { cwd: root });
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  assert.deepEqual(result, { images: 5, quarantined: 1, classes: ['a', 'b'] });
});
