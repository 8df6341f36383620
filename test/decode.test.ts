import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EncodedSample } from '../src/data/samples.ts';
import { flow } from '../src/stream/stage.ts';
import { decode } from '../stages/decode.ts';
import { render } from '../stages/render.ts';
import { resize } from '../stages/resize.ts';
import { collect, nativeSize, testContext } from './helpers/context.ts';
import { awkwardImages, brokenImages, jpegBytes, tempFolder } from './helpers/images.ts';

function encoded(paths: string[]): (context: unknown) => AsyncGenerator<EncodedSample> {
  return async function* () {
    for (const path of paths) yield { key: path, label: 'x', classIndex: 0, origin: path, input: path };
  };
}

test('decodes every common kind of image to 8-bit sRGB with EXIF orientation applied', async () => {
  const folder = tempFolder();
  const images = await awkwardImages(folder);
  const context = testContext();
  const samples = await collect(
    flow(encoded(Object.values(images)), context)
      .pipe(decode())
      .pipe(nativeSize)
      .pipe(render()),
  );
  assert.equal(context.quarantine.count, 0, JSON.stringify(context.quarantine.entries));
  assert.equal(samples.length, Object.keys(images).length);
  for (const sample of samples) {
    assert.equal(sample.channels, 3);
    assert.equal(sample.pixels.length, sample.width * sample.height * 3, sample.key);
  }
  const rotated = samples.find((sample) => sample.key.endsWith('rotated.jpg'))!;
  assert.deepEqual([rotated.width, rotated.height], [20, 40], 'orientation 6 turns a 40x20 image upright to 20x40');
  const grey = samples.find((sample) => sample.key.endsWith('grey.jpg'))!;
  assert.ok(Math.abs(grey.pixels[0] - grey.pixels[1]) <= 1 && Math.abs(grey.pixels[0] - 128) <= 3, 'grey expands to equal RGB');
  const animated = samples.find((sample) => sample.key.endsWith('animated.gif'))!;
  assert.deepEqual([animated.width, animated.height], [30, 20], 'only the first frame is used');
});

test('quarantines broken and refused files with their reasons and goes on', async () => {
  const folder = tempFolder();
  const broken = await brokenImages(folder);
  const good = join(folder, 'good.jpg');
  writeFileSync(good, await jpegBytes());
  const quarantineFile = join(folder, 'run', 'quarantine.jsonl');
  const context = testContext(0, quarantineFile);
  const paths = [...Object.values(broken).map((entry) => entry.path), good];
  const samples = await collect(flow(encoded(paths), context).pipe(decode()).pipe(nativeSize).pipe(render()));
  assert.deepEqual(
    samples.map((sample) => sample.key),
    [good],
  );
  assert.equal(context.quarantine.count, Object.keys(broken).length);
  for (const { path, reason } of Object.values(broken)) {
    const entry = context.quarantine.entries.find((candidate) => candidate.path === path);
    assert.ok(entry, `${path} is quarantined`);
    assert.match(entry.reason, reason);
  }
  const { readFileSync } = await import('node:fs');
  const lines = readFileSync(quarantineFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.equal(lines.length, Object.keys(broken).length);
  assert.ok(lines.every((line) => typeof line.path === 'string' && typeof line.reason === 'string'));
});

test('refuses images over the pixel limit as decompression bombs', async () => {
  const folder = tempFolder();
  const path = join(folder, 'big.jpg');
  writeFileSync(path, await jpegBytes(200, 100));
  const context = testContext();
  const samples = await collect(flow(encoded([path]), context).pipe(decode({ maxPixels: 10_000 })));
  assert.equal(samples.length, 0);
  assert.match(context.quarantine.entries[0].reason, /exceeds the pixel limit of 10000/);
});

test('accepts SVG only when the user allows it', async () => {
  const folder = tempFolder();
  const path = join(folder, 'plain.svg');
  writeFileSync(path, '<svg xmlns="http://www.w3.org/2000/svg" width="12" height="8"><rect width="12" height="8" fill="red"/></svg>');
  const context = testContext();
  const samples = await collect(
    flow(encoded([path]), context)
      .pipe(decode({ formats: ['svg'] }))
      .pipe(nativeSize)
      .pipe(render()),
  );
  assert.equal(samples.length, 1);
  assert.deepEqual([samples[0].width, samples[0].height], [12, 8]);
});

test('keeps input order with many decodes in flight', async () => {
  const folder = tempFolder();
  const paths: string[] = [];
  for (let i = 0; i < 24; i++) {
    paths.push(join(folder, `${i}.jpg`));
    // Alternate large and small images so later ones tend to finish first.
    writeFileSync(paths[i], await jpegBytes(i % 2 ? 16 : 400, i % 2 ? 16 : 300, i));
  }
  const samples = await collect(
    flow(encoded(paths), testContext())
      .pipe(decode({ concurrency: 8 }))
      .pipe(resize({ size: 32 }))
      .pipe(render({ concurrency: 8 })),
  );
  assert.deepEqual(
    samples.map((sample) => sample.key),
    paths,
  );
});

test('resizes with cover, contain and fill to the exact square size', async () => {
  const folder = tempFolder();
  const path = join(folder, 'wide.jpg');
  writeFileSync(path, await jpegBytes(300, 100));
  for (const fit of ['cover', 'contain', 'fill'] as const) {
    const [sample] = await collect(
      flow(encoded([path]), testContext())
        .pipe(decode())
        .pipe(resize({ size: 48, fit }))
        .pipe(render()),
    );
    assert.deepEqual([sample.width, sample.height], [48, 48], fit);
    if (fit === 'contain') assert.equal(sample.pixels[0] + sample.pixels[1] + sample.pixels[2], 0, 'letterbox bars are black');
  }
});

test('reads JPEG size, components and EXIF orientation as sharp does, without decoding', async () => {
  const { readJpegHeader } = await import('../src/data/jpeg-header.ts');
  const sharp = (await import('sharp')).default;
  const { rgb } = await import('./helpers/images.ts');
  const cases = [
    ...[1, 3, 6, 8].map((orientation) => rgb(41, 23).withMetadata({ orientation }).jpeg()),
    rgb(41, 23).jpeg({ progressive: true }),
    rgb(41, 23).toColourspace('cmyk').jpeg(),
    sharp(Buffer.alloc(30 * 20, 90), { raw: { width: 30, height: 20, channels: 1 } }).jpeg(),
  ];
  for (const image of cases) {
    const bytes = await image.toBuffer();
    const header = readJpegHeader(bytes)!;
    const metadata = await sharp(bytes).metadata();
    assert.deepEqual(
      [header.width, header.height, header.components, header.orientation],
      [metadata.width, metadata.height, metadata.channels, metadata.orientation ?? 1],
    );
  }
  assert.equal(readJpegHeader(new Uint8Array([0xff, 0xd8, 0xff, 0xda, 0, 2])), undefined, 'no frame header before the scan');
  assert.equal(readJpegHeader(new Uint8Array([0x89, 0x50])), undefined);
});
