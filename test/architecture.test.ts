import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
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
