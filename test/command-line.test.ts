import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configFields, kebab, schemaFieldNames } from '../src/config/config-fields.ts';
import { configFromFlags, nearestName, positionalData, runFlags } from '../src/config/config-flags.ts';
import { loadPipeline } from '../src/config/run-config.ts';
import { ConfigError, FlagError } from '../src/errors.ts';
import { split } from '../stages/split.ts';
import { lastJson, streamfit } from './helpers/cli.ts';
import { tempFolder } from './helpers/images.ts';
import { tinyDataset } from './helpers/tiny-dataset.ts';

test('every config field has a flag, or is file-only; flags parse into the field by the kind the schema gives it', () => {
  const fields = configFields();
  assert.deepEqual(fields.map((field) => field.field).sort(), schemaFieldNames().sort(), 'the flag table covers the schema exactly');
  for (const field of fields) {
    if (field.kind === 'object') assert.equal(field.flag, undefined, `${field.field} is file-only`);
    else assert.ok(runFlags[kebab(field.field)], `${field.field} has a flag`);
    if (field.kind === 'boolean') assert.ok(runFlags[`no-${kebab(field.field)}`], `${field.field} can be turned off`);
  }
  assert.deepEqual(
    configFromFlags({
      'image-size': '64',
      lr: '3e-4',
      'no-recompute': true,
      nesterov: true,
      'queue-bytes': '64MiB',
      optimizer: 'sgd',
      'max-quarantined': '0.2',
    }),
    { imageSize: 64, lr: 3e-4, nesterov: true, recompute: false, queueBytes: 64 * 2 ** 20, optimizer: 'sgd', maxQuarantined: 0.2 },
  );
  assert.throws(() => configFromFlags({ recompute: true, 'no-recompute': true }), /flag --no-recompute: contradicts --recompute/);
  assert.throws(() => configFromFlags({ epochs: '2.5' }), /flag --epochs: expected an integer, got '2.5'/);
});

test('the dataset may be given as a positional argument; two different ones are refused', () => {
  assert.equal(positionalData(['data/a'], {}), 'data/a');
  assert.equal(positionalData(['data/a'], { data: './data/a' }), 'data/a');
  assert.equal(positionalData([], { data: 'data/a' }), undefined);
  assert.throws(
    () => positionalData(['a', 'b'], {}),
    (error: unknown) => error instanceof FlagError && /takes one dataset path, got 2/.test(error.message),
  );
  assert.throws(
    () => positionalData(['data/a'], { data: 'data/b' }),
    /flag --data: 'data\/b' and the positional 'data\/a' name different datasets: give one of them/,
  );
});

test('a mistyped flag or command is matched to the nearest known one, when one is near', () => {
  const flags = ['--image-size', '--batch-size', '--micro-batch', '--top', '--top-k'];
  assert.equal(nearestName('--imge-size', flags), '--image-size');
  assert.equal(nearestName('--batchsize', flags), '--batch-size');
  assert.equal(nearestName('--tpo', flags), '--top');
  assert.equal(nearestName('--colour', flags), undefined);
  assert.equal(nearestName('trian', ['inspect', 'train', 'predict']), 'train');
});

test('`train --help` and `-h` list, on stdout, every flag the schema gives; --version; an unknown flag names the nearest', async () => {
  const [help, short, predictHelp, version, typo, command] = await Promise.all([
    streamfit(['train', '--help']),
    streamfit(['train', '-h']),
    streamfit(['predict', '--help']),
    streamfit(['--version']),
    streamfit(['train', '--imge-size', '64']),
    streamfit(['trian']),
  ]);
  assert.deepEqual([help.code, help.stderr], [0, '']);
  assert.equal(short.stdout, help.stdout);
  for (const [name, spec] of Object.entries(runFlags))
    if (!spec.hidden) assert.match(help.stdout, new RegExp(`^  --${name} `, 'm'), `train --help lists --${name}`);
  for (const field of configFields()) {
    if (!field.flag) assert.match(help.stdout, new RegExp(`Fields without a flag \\(.*\\b${field.field}\\b`), field.field);
    for (const choice of field.choices ?? []) assert.ok(help.stdout.includes(choice), `${field.field}: ${choice}`);
  }
  for (const flag of ['--resume', '--json', '--help']) assert.match(help.stdout, new RegExp(`^  ${flag}\\b`, 'm'));
  for (const flag of ['--model', '--batch-size', '--top', '--backend', '--json'])
    assert.match(predictHelp.stdout, new RegExp(`^  ${flag} `, 'm'));
  const { version: expected } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8'));
  assert.deepEqual([version.code, version.stdout], [0, `streamfit ${expected}\n`]);
  assert.deepEqual([typo.code, typo.stdout], [1, '']);
  assert.equal(typo.stderr, 'streamfit: flag --imge-size: unknown flag; did you mean --image-size? (--help lists them)\n');
  assert.deepEqual(
    [command.code, command.stderr],
    [1, "streamfit: unknown command 'trian'; did you mean 'train'? (streamfit --help lists them)\n"],
  );
});

test('results go to stdout and logs to stderr; with --json the result is the last stdout line and the text goes to stderr', async () => {
  const data = tinyDataset(2);
  const [human, json] = await Promise.all([
    streamfit(['inspect', data, '--image-size', '32']),
    streamfit(['inspect', data, '--image-size', '32', '--json']),
  ]);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /: 4 files, 4 decoded, 0 quarantined\n {2}horizontal: 2\n {2}vertical: 2\n$/);
  assert.doesNotMatch(human.stderr, /decoded/);
  assert.equal(json.stdout.trim().split('\n').length, 1);
  assert.equal(lastJson(json.stdout).decoded, 4);
  assert.ok(json.stderr.includes(human.stdout));
});

test('train refuses an --out that holds files it did not make, before any work, and leaves them as they were', async () => {
  const data = tinyDataset(2);
  const mine = tempFolder();
  writeFileSync(join(mine, 'report.html'), 'my own report');
  const { code, stderr } = await streamfit(['train', data, '--out', mine, '--image-size', '32', '--backend', 'wasm']);
  assert.equal(code, 1);
  assert.match(stderr, /^streamfit: config field 'out': .* holds files and is not a streamfit run \(it has no \.streamfit-run\)/);
  assert.equal(stderr.trim().split('\n').length, 1, 'one line and nothing else');
  assert.equal(readFileSync(join(mine, 'report.html'), 'utf8'), 'my own report');
});

test('a pipeline file loads from outside the repository, imports streamfit and its neighbours; a syntax error keeps file:line:column', async () => {
  const folder = join(tempFolder(), 'elsewhere'); // no package.json above it: a .ts file there is CommonJS to Node
  mkdirSync(folder);
  writeFileSync(join(folder, 'settings.ts'), 'export const epochs: number = 1;\n');
  writeFileSync(
    join(folder, 'mine.ts'),
    [
      "import { definePipeline, split } from 'streamfit';",
      `import { pipeline as base } from ${JSON.stringify(join(import.meta.dirname, '..', 'pipelines', 'default.ts'))};`,
      "import { epochs } from './settings.ts';",
      'export const pipeline = definePipeline({ ...base, config: { ...base.config, epochs } });',
      'export const splitStage = split;',
    ].join('\n'),
  );
  const loaded = await loadPipeline(join(folder, 'mine.ts'));
  assert.equal(loaded.config.epochs, 1);
  const module = (await import(`${new URL(`file://${join(folder, 'mine.ts')}`).href}?streamfit-pipeline`)) as { splitStage: unknown };
  assert.equal(module.splitStage, split, "'streamfit' is the running streamfit, not a copy");

  writeFileSync(join(folder, 'broken.ts'), 'export const pipeline = {\n  config: {},\n  x: = 3,\n};\n');
  await assert.rejects(
    loadPipeline(join(folder, 'broken.ts')),
    (error: unknown) => error instanceof ConfigError && error.message.includes(`${join(folder, 'broken.ts')}:3:5: Unexpected "="`),
  );
});
