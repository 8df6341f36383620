import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { randomResizedCropBox } from '../src/data/crop-box.ts';
import type { EncodedSample, PixelSample, TabulatedSample } from '../src/data/samples.ts';
import { float16BitsToFloat32 } from '../src/math/fp16.ts';
import { seededRandom } from '../src/math/random.ts';
import { flow } from '../src/stream/stage.ts';
import { augment } from '../stages/augment.ts';
import { batch, packBatch } from '../stages/batch.ts';
import { decode } from '../stages/decode.ts';
import { fp16Cast } from '../stages/fp16-cast.ts';
import { normalizationTable, normalize } from '../stages/normalize.ts';
import { render } from '../stages/render.ts';
import { resize } from '../stages/resize.ts';
import { shuffle } from '../stages/shuffle.ts';
import { isValidationKey, split } from '../stages/split.ts';
import { collect, fromArray, testContext } from './helpers/context.ts';
import { jpegBytes, tempFolder } from './helpers/images.ts';

const info = (key: string) => ({ key, label: 'a', classIndex: 0, origin: key });

test('splits by key hash: same answer every time, and adding files moves none', async () => {
  const keys = Array.from({ length: 2000 }, (_, i) => `class/${i}.jpg`);
  const validation = keys.filter((key) => isValidationKey(key, 0.2));
  assert.ok(validation.length > 320 && validation.length < 480, `about 20% (got ${validation.length})`);
  const more = [...keys, ...Array.from({ length: 500 }, (_, i) => `class/new-${i}.jpg`)];
  const after = new Set(more.filter((key) => isValidationKey(key, 0.2)));
  assert.ok(validation.every((key) => after.has(key)));
  assert.ok(keys.filter((key) => !isValidationKey(key, 0.2)).every((key) => !after.has(key)));
  const samples = keys.map(info);
  const train = await collect(split({ subset: 'train' })(fromArray(samples), testContext()));
  const valid = await collect(split({ subset: 'validation' })(fromArray(samples), testContext()));
  assert.equal(train.length + valid.length, keys.length);
  assert.equal(valid.length, validation.length);
});

test('shuffles within a bounded buffer, seeded by epoch, losing nothing', async () => {
  const items = Array.from({ length: 100 }, (_, i) => i);
  const run = (epoch: number) => collect(shuffle<number>({ bufferSize: 10, seed: 1 })(fromArray(items), testContext(epoch)));
  const [a, b, c] = [await run(0), await run(0), await run(1)];
  assert.deepEqual(a, b, 'same seed and epoch, same order');
  assert.notDeepEqual(a, c, 'another epoch, another order');
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    items,
  );
  assert.notDeepEqual(a, items);
  a.forEach((value, position) => assert.ok(value <= position + 10, 'an item can only move ahead by less than the buffer size'));
});

function pixelSample(key: string, width: number, height: number, fill: (i: number) => number): PixelSample {
  return {
    ...info(key),
    pixels: Uint8Array.from({ length: width * height * 3 }, (_, i) => fill(i)),
    width,
    height,
    channels: 3,
    brightness: 1,
    contrast: 1,
  };
}

test('normalizes with each preset to exact values', async () => {
  const sample = pixelSample('k', 1, 1, (i) => [0, 128, 255][i]);
  const expected: Record<string, number[]> = {
    imagenet: [(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225],
    unit: [0, 128 / 255, 1],
    symmetric: [-1, 128 / 127.5 - 1, 1],
    none: [0, 128, 255],
  };
  for (const [preset, values] of Object.entries(expected)) {
    const [tabulated] = await collect(normalize({ preset: preset as 'imagenet' })(fromArray([sample]), testContext()));
    const { x, dtype } = packBatch([tabulated]);
    assert.equal(dtype, preset === 'none' ? 'uint8' : 'float32');
    values.forEach((value, i) => assert.ok(Math.abs(x[i] - value) < 1e-6, `${preset}[${i}] = ${x[i]}, expected ${value}`));
  }
});

test('folds brightness and contrast into the table, clamped like an 8-bit image', () => {
  const table = normalizationTable('none', 2, 1);
  assert.equal(table[100], 200);
  assert.equal(table[200], 255);
  const contrast = normalizationTable('unit', 1, 0);
  assert.ok(Math.abs(contrast[10] - 0.5) < 1e-6, 'zero contrast gives mid-grey');
});

test('casts to binary16 and packs batches of one contiguous array, keeping or dropping the last', async () => {
  const samples = Array.from({ length: 5 }, (_, n) => pixelSample(`k${n}`, 2, 2, (i) => (i * 7 + n) % 256));
  const tabulate = normalize({ preset: 'unit' });
  const half = await collect(batch({ size: 2 })(fp16Cast()(tabulate(fromArray(samples), testContext()), testContext()), testContext()));
  assert.deepEqual(
    half.map((b) => b.shape[0]),
    [2, 2, 1],
  );
  assert.ok(half[0].x instanceof Uint16Array);
  assert.equal(half[0].bytes, 2 * 2 * 2 * 3 * 2 + 2 * 4);
  const value = float16BitsToFloat32(half[1].x[12 + 5]);
  const exact = samples[3].pixels[5] / 255;
  assert.ok(Math.abs(value - exact) <= exact * 2 ** -11, 'within half an ulp of binary16');
  const dropped = await collect(batch({ size: 2, dropLast: true })(tabulate(fromArray(samples), testContext()), testContext()));
  assert.deepEqual(
    dropped.map((b) => [...b.keys]),
    [
      ['k0', 'k1'],
      ['k2', 'k3'],
    ],
  );
  // A stream shorter than one batch: dropping its only batch would leave an epoch with nothing to train on.
  const only = await collect(batch({ size: 8, dropLast: true })(tabulate(fromArray(samples), testContext()), testContext()));
  assert.deepEqual(
    only.map((b) => b.shape[0]),
    [5],
  );
});

test('refuses to batch images of different sizes, naming the file', () => {
  const table = normalizationTable('unit') as Float32Array;
  const a: TabulatedSample = { ...pixelSample('a', 2, 2, () => 0), dtype: 'float32', table };
  const b: TabulatedSample = { ...pixelSample('b.jpg', 3, 2, () => 0), dtype: 'float32', table };
  assert.throws(() => packBatch([a, b]), /b\.jpg: is 3x2 float32, but the batch is 2x2 float32/);
});

test('crop boxes stay inside the image and cover the asked share of it', () => {
  const random = seededRandom(3);
  for (let i = 0; i < 500; i++) {
    const box = randomResizedCropBox(640, 480, [0.08, 1], [3 / 4, 4 / 3], random);
    assert.ok(box.left >= 0 && box.top >= 0 && box.left + box.width <= 640 && box.top + box.height <= 480);
    assert.ok(box.width * box.height >= 0.07 * 640 * 480);
  }
});

test('augments the same way for the same (seed, epoch, key), whatever the concurrency', async () => {
  const folder = tempFolder();
  const encoded: EncodedSample[] = [];
  for (let i = 0; i < 8; i++) {
    const path = join(folder, `${i}.jpg`);
    writeFileSync(path, await jpegBytes(120, 90, i));
    encoded.push({ ...info(path), input: path });
  }
  // With a rotation, sharp flips before rotating; without one, the flip is deferred to the batch write.
  for (const rotate of [10, 0]) {
    const run = (epoch: number, concurrency: number) =>
      collect(
        flow(() => fromArray(encoded), testContext(epoch))
          .pipe(decode({ concurrency }))
          .pipe(resize({ size: 32 }))
          .pipe(augment({ seed: 7, rotate, saturation: 0.3 }))
          .pipe(render({ concurrency }))
          .pipe(normalize()),
      );
    const first = await run(0, 1);
    const again = await run(0, 8);
    const nextEpoch = await run(1, 4);
    // Compared as written into a batch: the table and a deferred flip are part of the result.
    const packed = (samples: TabulatedSample[]) => [...packBatch(samples).x];
    assert.deepEqual(packed(again), packed(first));
    assert.notDeepEqual(packed(nextEpoch), packed(first));
    assert.ok(first.every((sample) => sample.width === 32 && sample.height === 32));
    if (rotate === 0)
      assert.ok(first.some((sample) => sample.mirror) && first.some((sample) => !sample.mirror), 'some samples flipped, some not');
  }
});

test('the word-wise binary16 table path equals the byte-wise one, at odd sizes and offsets too', async () => {
  const { applyTableFloat16 } = await import('../src/data/apply-table.ts');
  const table = Uint16Array.from({ length: 768 }, (_, i) => (i * 40503) & 0xffff);
  for (const pixelsCount of [1, 4, 5, 17, 400]) {
    const pixels = Uint8Array.from({ length: pixelsCount * 3 }, (_, i) => (i * 97 + 13) % 256);
    for (const offset of [0, 3, 6]) {
      const out = new Uint16Array(offset + pixels.length);
      applyTableFloat16(pixels, table, out, offset);
      pixels.forEach((value, i) =>
        assert.equal(out[offset + i], table[(i % 3) * 256 + value], `pixel value ${i} of ${pixelsCount}, offset ${offset}`),
      );
    }
  }
});

test('the mirrored table writes equal the byte-wise reference, at odd widths and offsets too', async () => {
  const { applyTableFloat16, applyTableFloat32 } = await import('../src/data/apply-table.ts');
  const table = Uint16Array.from({ length: 768 }, (_, i) => (i * 40503) & 0xffff);
  for (const [width, height] of [
    [1, 1],
    [3, 2],
    [4, 1],
    [8, 3],
    [12, 2],
    [30, 2],
  ]) {
    const pixels = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 97 + 13) % 256);
    const expected = (offset: number, i: number) => {
      const [row, column, channel] = [Math.floor(i / (width * 3)), Math.floor(i / 3) % width, i % 3];
      return offset + (row * width + (width - 1 - column)) * 3 + channel;
    };
    for (const offset of [0, 3, 6]) {
      const half = new Uint16Array(offset + pixels.length);
      applyTableFloat16(pixels, table, half, offset, width);
      const single = new Float32Array(offset + pixels.length);
      applyTableFloat32(pixels, Float32Array.from(table), single, offset, width);
      pixels.forEach((value, i) => {
        assert.equal(half[expected(offset, i)], table[(i % 3) * 256 + value], `${width}x${height}, offset ${offset}, value ${i}`);
        assert.equal(single[expected(offset, i)], table[(i % 3) * 256 + value]);
      });
    }
  }
});

test('a flip deferred to the batch gives the pixels sharp would give by flopping the image', async () => {
  const sharp = (await import('sharp')).default;
  const path = join(tempFolder(), 'flip.jpg');
  writeFileSync(path, await jpegBytes(90, 70, 5));
  const encoded: EncodedSample = { ...info(path), input: path };
  for (const size of [32, 30]) {
    const rendered = (flip: boolean) =>
      flow(() => fromArray([encoded]), testContext())
        .pipe(decode())
        .pipe(resize({ size }))
        .pipe((source) =>
          (async function* () {
            for await (const sample of source) yield { ...sample, plan: { ...sample.plan, flip } };
          })(),
        )
        .pipe(render());
    const [plain] = await collect(rendered(false));
    const [flipped] = await collect(rendered(true));
    assert.equal(flipped.mirror, true);
    const flopped = await sharp(plain.pixels, { raw: { width: size, height: size, channels: 3 } })
      .flop()
      .raw()
      .toBuffer();
    const tables = { none: normalize({ preset: 'none' }), unit: normalize({ preset: 'unit' }) };
    for (const [name, stage] of Object.entries(tables)) {
      for (const half of [false, true]) {
        const tabulate = async (sample: PixelSample) => {
          const [tabulated] = await collect(stage(fromArray([sample]), testContext()));
          return half ? (await collect(fp16Cast()(fromArray([tabulated]), testContext())))[0] : tabulated;
        };
        const viaBatch = packBatch([await tabulate(flipped)]).x;
        const viaSharp = packBatch([await tabulate({ ...plain, pixels: new Uint8Array(flopped) })]).x;
        assert.deepEqual([...viaBatch], [...viaSharp], `${size} px, ${name}${half ? ', binary16' : ''}`);
      }
    }
  }
});

test('one augmentation strength scales crops and jitter, and 0 turns augmentation off', async () => {
  const { augmentationOf } = await import('../stages/augment.ts');
  assert.deepEqual(augmentationOf(0), { crop: false, flip: false, brightness: 0, contrast: 0 });
  const full = augmentationOf(1);
  assert.deepEqual(full.crop, { scale: [0.5, 1], ratio: [3 / 4, 4 / 3] });
  assert.equal(full.brightness, 0.2);
  const half = augmentationOf(0.5, 0.08);
  assert.ok(half.crop && Math.abs(half.crop.scale[0] - 0.54) < 1e-12);
  assert.equal(half.contrast, 0.1);
});
