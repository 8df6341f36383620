import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type FlagSpecs, parseFlags } from '../cli/args.ts';
import * as flagTables from '../cli/flags.ts';
import { commands } from '../cli/help.ts';
import { configFromFlags } from '../cli/run-config.ts';
import { positionalData } from '../cli/train.ts';
import { configFields, kebab, schemaFieldNames } from '../src/config/config-fields.ts';
import { loadPipeline } from '../src/config/run-config.ts';
import { ConfigError, FlagError } from '../src/errors.ts';
import { split } from '../stages/split.ts';
import { runCli } from './helpers/cli.ts';
import { tempFolder } from './helpers/images.ts';
import { tinyDataset } from './helpers/tiny-dataset.ts';

const flagsOf = (sections: Array<{ flags: FlagSpecs }>) =>
  sections.flatMap((section) =>
    Object.entries(section.flags)
      .filter(([, spec]) => !spec.hidden)
      .map(([name]) => `--${name}`),
  );

test('`<command> --help` and `-h` print, on stdout, every flag the command parses', async () => {
  for (const [name, help] of Object.entries(commands)) {
    for (const ask of ['--help', '-h']) {
      const { code, stdout, stderr } = await runCli([name, ask]);
      assert.equal(code, 0, name);
      assert.equal(stderr, '');
      assert.match(stdout, new RegExp(`^usage: streamfit ${name}`));
      for (const flag of [...flagsOf(help.sections), '--json', '--help'])
        assert.ok(stdout.includes(`${flag} `) || stdout.includes(`${flag},`), `${name} --help lists ${flag}`);
    }
  }
  const main = await runCli(['--help']);
  for (const name of Object.keys(commands)) assert.match(main.stdout, new RegExp(`^  ${name} `, 'm'));
  assert.equal((await runCli(['help', 'plan'])).stdout, (await runCli(['plan', '--help'])).stdout);
  const bare = await runCli([]);
  assert.deepEqual([bare.code, bare.stdout === '', bare.stderr.startsWith('usage: streamfit')], [1, true, true]);
});

test('every config field has a flag in train --help, or is named there as file-only; the flags parse into the field', async () => {
  const fields = configFields();
  assert.deepEqual(fields.map((field) => field.field).sort(), schemaFieldNames().sort(), 'the flag table covers the schema exactly');
  const { stdout } = await runCli(['train', '--help']);
  for (const field of fields) {
    if (field.flag) assert.match(stdout, new RegExp(`^  ${field.flag} `, 'm'), field.field);
    else assert.match(stdout, new RegExp(`Fields without a flag \\(.*\\b${field.field}\\b`), field.field);
    if (field.choices) for (const choice of field.choices) assert.ok(stdout.includes(choice), `${field.field}: ${choice}`);
  }
  assert.equal(kebab('checkpointEverySteps'), 'checkpoint-every-steps');
  const { values } = parseFlags(
    [
      '--image-size',
      '64',
      '--lr',
      '3e-4',
      '--no-recompute',
      '--nesterov',
      '--queue-bytes',
      '64MiB',
      '--optimizer',
      'sgd',
      '--max-quarantined',
      '0.2',
    ],
    flagTables.trainFlags,
  );
  assert.deepEqual(configFromFlags(values), {
    imageSize: 64,
    lr: 3e-4,
    nesterov: true,
    recompute: false,
    queueBytes: 64 * 2 ** 20,
    optimizer: 'sgd',
    maxQuarantined: 0.2,
  });
  assert.throws(
    () => configFromFlags(parseFlags(['--recompute', '--no-recompute'], flagTables.trainFlags).values),
    /flag --no-recompute: contradicts --recompute/,
  );
  assert.throws(
    () => configFromFlags(parseFlags(['--epochs', '2.5'], flagTables.trainFlags).values),
    /flag --epochs: expected an integer, got '2.5'/,
  );
});

test('--version prints the package version; an unknown flag or command suggests the nearest one', async () => {
  const version = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')).version;
  assert.equal((await runCli(['--version'])).stdout, `streamfit ${version}\n`);
  const typo = await runCli(['train', '--imge-size', '64']);
  assert.deepEqual([typo.code, typo.stdout], [1, '']);
  assert.equal(typo.stderr, 'streamfit: flag --imge-size: unknown flag; did you mean --image-size? (--help lists them)\n');
  assert.match((await runCli(['predict', '--topp', '2'])).stderr, /did you mean --top\?/);
  assert.match((await runCli(['evaluate', '--colour', 'red'])).stderr, /^streamfit: flag --colour: unknown flag \(--help lists them\)\n$/);
  assert.equal(
    (await runCli(['trian'])).stderr,
    "streamfit: unknown command 'trian'; did you mean 'train'? (streamfit --help lists them)\n",
  );
});

test('results go to stdout and logs to stderr; with --json the result is the last stdout line and the text goes to stderr', async () => {
  const data = tinyDataset(2);
  const human = await runCli(['inspect', data, '--image-size', '32']);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /: 4 files, 4 decoded, 0 quarantined\n {2}horizontal: 2\n {2}vertical: 2\n$/);
  assert.equal(human.stderr, '');
  const json = await runCli(['inspect', data, '--image-size', '32', '--json']);
  assert.equal(json.stdout.trim().split('\n').length, 1);
  assert.equal((JSON.parse(json.stdout) as { decoded: number }).decoded, 4);
  assert.equal(json.stderr, human.stdout);
});

test('train takes the dataset as a positional argument; two different datasets are refused', async () => {
  assert.equal(positionalData(['data/a'], {}), 'data/a');
  assert.equal(positionalData(['data/a'], { data: './data/a' }), 'data/a');
  assert.equal(positionalData([], { data: 'data/a' }), undefined);
  assert.throws(
    () => positionalData(['a', 'b'], {}),
    (error: unknown) => error instanceof FlagError && /takes one dataset path, got 2/.test(error.message),
  );
  const { code, stderr } = await runCli(['train', 'data/a', '--data', 'data/b']);
  assert.equal(code, 1);
  assert.equal(stderr, "streamfit: flag --data: 'data/b' and the positional 'data/a' name different datasets: give one of them\n");
});

test('train refuses an --out that holds files it did not make, before any work, and writes nothing there', async () => {
  const data = tinyDataset(2);
  const mine = tempFolder();
  writeFileSync(join(mine, 'report.html'), 'my own report');
  const { code, stderr } = await runCli(['train', data, '--out', mine, '--image-size', '32', '--backend', 'wasm']);
  assert.equal(code, 1);
  assert.match(stderr, /^streamfit: config field 'out': .* holds files and is not a streamfit run \(it has no \.streamfit-run\)/);
  assert.equal(readFileSync(join(mine, 'report.html'), 'utf8'), 'my own report');
  const refused = await runCli(['train', '--data', data, '--out', join(data, 'horizontal', 'run'), '--image-size', '32']);
  assert.match(refused.stderr, /is inside the dataset/);
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
