import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { evaluationPreprocessing } from '../src/data/preprocessing.ts';
import type { EncodedSample } from '../src/data/samples.ts';
import { DataError, OptionError, StreamfitError, SystemError } from '../src/errors.ts';
import { classifyError } from '../src/stream/error-policy.ts';
import { describe, flow } from '../src/stream/stage.ts';
import { augment } from '../stages/augment.ts';
import { batch } from '../stages/batch.ts';
import { decode } from '../stages/decode.ts';
import { normalize } from '../stages/normalize.ts';
import { prefetch } from '../stages/prefetch.ts';
import { preprocess } from '../stages/preprocess.ts';
import { render } from '../stages/render.ts';
import { resize } from '../stages/resize.ts';
import { shuffle } from '../stages/shuffle.ts';
import { split } from '../stages/split.ts';
import { collect, testContext } from './helpers/context.ts';
import { jpegBytes, tempFolder } from './helpers/images.ts';

const sample = (origin: string, input: unknown = origin) => ({ key: origin, label: 'a', classIndex: 0, origin, input }) as EncodedSample;
const encoded = (samples: EncodedSample[]) =>
  Object.assign(
    async function* () {
      yield* samples;
    },
    { description: 'test samples' },
  );

test("stage factories check their options when called, in p-queue's words", () => {
  const cases: Array<[() => unknown, string]> = [
    [() => decode({ concurrency: 0 }), 'decode: Expected `concurrency` to be a number from 1 and up, got `0` (number)'],
    [() => decode({ concurrency: 2.5 }), 'decode: Expected `concurrency` to be a whole number from 1 and up, got `2.5` (number)'],
    [
      () => decode({ formats: ['bmp'] }),
      'decode: Expected `formats` to be a non-empty list of jpeg, png, webp, gif, tiff, heif, svg, got `["bmp"]` (object)',
    ],
    [() => render({ concurrency: -1 }), 'render: Expected `concurrency` to be a number from 1 and up, got `-1` (number)'],
    [() => resize({ size: 0 }), 'resize: Expected `size` to be a number from 1 and up, got `0` (number)'],
    [() => resize({ fit: 'stretch' as 'fill' }), "resize: Expected `fit` to be one of 'cover', 'contain', 'fill', got `stretch` (string)"],
    [() => augment({ brightness: 2 }), 'augment: Expected `brightness` to be a number from 0 to 1, got `2` (number)'],
    [() => augment({ crop: { scale: [0.9, 0.1], ratio: [1, 1] } }), 'augment: Expected `crop.scale` to be a [low, high] pair'],
    [
      () => normalize({ preset: 'unit8' as 'unit' }),
      "normalize: Expected `preset` to be one of 'imagenet', 'unit', 'symmetric', 'none', got `unit8` (string)",
    ],
    [() => batch({ size: 0 }), 'batch: Expected `size` to be a number from 1 and up, got `0` (number)'],
    [() => prefetch({ maxItems: 0 }), 'prefetch: Expected `maxItems` to be a number from 1 and up, got `0` (number)'],
    [() => shuffle({ bufferSize: 0 }), 'shuffle: Expected `bufferSize` to be a number from 1 and up, got `0` (number)'],
    [() => split({ subset: 'test' as 'train' }), "split: Expected `subset` to be one of 'train', 'validation', got `test` (string)"],
    [() => decode({ onError: 'ignore' as 'stop' }), "decode: Expected `onError` to be 'quarantine', 'stop' or a function"],
  ];
  for (const [make, message] of cases) {
    assert.throws(make, (error: unknown) => {
      assert.ok(error instanceof OptionError && error instanceof StreamfitError, String(error));
      assert.ok(error.message.startsWith(message), `${error.message}\n  expected to start with\n${message}`);
      return true;
    });
  }
});

test('describe(flow) prints each stage with its options and memory bound', () => {
  const chain = flow(encoded([]), testContext())
    .pipe(split({ subset: 'validation', validation: 0.25 }))
    .pipe(shuffle({ bufferSize: 500, seed: 3 }))
    .pipe(preprocess(evaluationPreprocessing({ imageSize: 64, normalize: 'imagenet' }), { batchSize: 8, maxBytes: 2 ** 20 }));
  const lines = describe(chain).split('\n');
  assert.deepEqual(
    lines.map((line) => line.trim().split(/\s+/)[0]),
    ['source', 'split', 'shuffle', 'preprocess', 'decode', 'resize', 'render', 'normalize', 'fp16Cast', 'batch', 'prefetch'],
  );
  assert.match(lines[0], /from=test samples/);
  assert.match(lines[1], /subset=validation validation=0\.25 seed=0/);
  assert.match(lines[2], /bufferSize=500 seed=3 {2}holds ≤ 500 samples/);
  assert.match(lines[3], /imageSize=64 fit=cover normalize=imagenet float16=true batchSize=8/);
  assert.match(
    lines[4],
    /^ {2}decode +concurrency=8 maxPixels=178956970 formats=jpeg,png,webp,gif,tiff,heif onError=quarantine {2}holds ≤ 8 file heads in flight, 512\.00 KiB/,
  );
  assert.match(lines[5], /size=64 fit=cover$/);
  assert.match(lines[10], /maxBytes=1048576 maxItems=16 {2}holds ≤ 16 items, 1\.00 MiB/);
});

test('decode quarantines data errors, and stops the run on errors of the machine and of the code', async () => {
  const folder = tempFolder();
  const good = join(folder, 'good.jpg');
  writeFileSync(good, await jpegBytes());
  const text = join(folder, 'text.jpg');
  writeFileSync(text, 'not an image');
  const run = (samples: EncodedSample[], options = {}) => {
    const context = testContext();
    return { context, done: collect(flow(encoded(samples), context).pipe(decode(options))) };
  };

  const data = run([sample(text), sample(good)]);
  assert.deepEqual(
    (await data.done).map((s) => s.origin),
    [good],
  );
  assert.deepEqual(data.context.quarantine.entries, [{ path: text, reason: 'not a recognised image format' }]);

  // /proc/self/mem opens but fails to read at offset 0 with EIO: an I/O error, a problem of the machine.
  const system = run([sample(good), sample('/proc/self/mem')]);
  await assert.rejects(
    system.done,
    (error: unknown) => error instanceof SystemError && error.code === 'EIO' && error.file === '/proc/self/mem',
  );
  assert.equal(system.context.quarantine.count, 0);

  const bug = run([sample('broken', 42)]);
  await assert.rejects(bug.done, TypeError, 'a sample whose input is not a path or bytes is a bug, not bad data');
  assert.equal(bug.context.quarantine.count, 0);

  const strict = run([sample(text)], { onError: 'stop' });
  await assert.rejects(
    strict.done,
    (error: unknown) => error instanceof DataError && error.file === text && /not a recognised image format/.test(error.message),
  );

  const lenient = run([sample('/proc/self/mem'), sample(good)], { onError: () => 'quarantine' });
  assert.deepEqual(
    (await lenient.done).map((s) => s.origin),
    [good],
  );
  assert.match(lenient.context.quarantine.entries[0].reason, /EIO/);
});

test('render quarantines an image it cannot decode and goes on', async () => {
  const folder = tempFolder();
  const whole = await jpegBytes(200, 150);
  const truncated = join(folder, 'truncated.jpg');
  writeFileSync(truncated, whole.subarray(0, whole.length / 2));
  const good = join(folder, 'good.jpg');
  writeFileSync(good, whole);
  const context = testContext();
  const rendered = await collect(
    flow(encoded([sample(truncated), sample(good)]), context)
      .pipe(decode())
      .pipe(resize({ size: 16 }))
      .pipe(render()),
  );
  assert.deepEqual(
    rendered.map((s) => s.origin),
    [good],
  );
  assert.match(context.quarantine.entries[0].reason, /^cannot decode: /);
});

test('errors are classified as data, system or program errors', () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: failed`), { code });
  assert.equal(classifyError(new Error('VipsJpeg: Premature end of input file')), 'data');
  assert.equal(classifyError(new DataError('x.jpg', 'not a recognised image format')), 'data');
  assert.equal(classifyError(errno('ENOENT')), 'data', 'a file that vanished is that file');
  for (const code of ['EMFILE', 'ENOMEM', 'EACCES', 'EIO']) assert.equal(classifyError(errno(code)), 'system', code);
  assert.equal(classifyError(new Error('unable to open "x.jpg" for reading: Permission denied')), 'system', 'libvips says it in words');
  assert.equal(classifyError(new Error('vips_malloc: out of memory')), 'system');
  assert.equal(classifyError(new TypeError("Cannot read properties of undefined (reading 'width')")), 'program');
  assert.equal(classifyError(new OptionError('decode', 'concurrency', 'a number', 0)), 'program');
});
