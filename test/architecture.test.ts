import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..');

function typescriptFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? typescriptFiles(join(folder, entry.name)) : entry.name.endsWith('.ts') ? [join(folder, entry.name)] : [],
  );
}

function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^'"]*from '([^']+)'|import\('([^']+)'\)/gm)].map((m) => m[1] ?? m[2]);
}

test('the engine (src/) never imports stages/, pipelines/ or cli/', () => {
  const offending = typescriptFiles(join(root, 'src')).flatMap((file) =>
    importsOf(file)
      .filter((path) => /(^|\/)(stages|pipelines|cli)\//.test(path))
      .map((path) => `${relative(root, file)} imports ${path}`),
  );
  assert.deepEqual(offending, []);
});

test('tests import the engine, not the CLI', () => {
  const offending = typescriptFiles(join(root, 'test')).flatMap((file) =>
    importsOf(file)
      .filter((path) => /(^|\/)cli\//.test(path))
      .map((path) => `${relative(root, file)} imports ${path}`),
  );
  assert.deepEqual(offending, []);
});

test('every source file starts with a comment line saying what it is for', () => {
  const folders = ['src', 'stages', 'pipelines', 'cli', 'bench', 'scripts'];
  const missing = folders
    .flatMap((folder) => typescriptFiles(join(root, folder)))
    .filter((file) => !readFileSync(file, 'utf8').startsWith('//'))
    .map((file) => relative(root, file));
  assert.deepEqual(missing, []);
});

test("README's 'Where things live' names every folder of the tree, and nothing that is not there", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /## Where things live\s*```\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'README has the section');
  const named = block
    .split('\n')
    .map((line) => /^( {2})?(\S+\/|\S+\.ts)\s/.exec(line))
    .filter((match) => match !== null)
    .map((match) => (match[1] ? `src/${match[2]}` : match[2]).replace(/\/$/, ''));
  for (const path of named) assert.ok(existsSync(join(root, path)), `${path} is named but does not exist`);
  // Folders of tracked files only: what a clone has, not what a machine left behind (runs/, caches, carried packages).
  const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n');
  const folders = (parent: string) => [
    ...new Set(
      tracked
        .filter((file) => parent === '.' || file.startsWith(`${parent}/`))
        .map((file) => file.split('/').slice(0, parent === '.' ? 1 : 2))
        .filter((parts) => parts.length === (parent === '.' ? 1 : 2) && tracked.some((file) => file.startsWith(`${parts.join('/')}/`)))
        .map((parts) => parts.join('/')),
    ),
  ];
  for (const folder of [...folders('.'), ...folders('src')]) assert.ok(named.includes(folder), `${folder} is not in the README`);
});
