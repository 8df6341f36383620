import assert from 'node:assert/strict';
import { test } from 'node:test';
import { float16BitsToFloat32, float32ToFloat16Bits, fromFloat16Array, toFloat16Array } from '../src/math/fp16.ts';

test('converts known values to their binary16 bit patterns', () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest finite half
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [0.1, 0x2e66],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ];
  for (const [value, bits] of cases) assert.equal(float32ToFloat16Bits(value), bits, `value ${value}`);
});

test('rounds to nearest, ties to even', () => {
  assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00, 'tie between 0x3c00 and 0x3c01 goes to even 0x3c00');
  assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02, 'tie between 0x3c01 and 0x3c02 goes to even 0x3c02');
  assert.equal(float32ToFloat16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01, 'above the tie rounds up');
  assert.equal(float32ToFloat16Bits(65519), 0x7bff, 'just below the overflow midpoint stays finite');
  assert.equal(float32ToFloat16Bits(65520), 0x7c00, 'the overflow midpoint rounds to Inf');
  assert.equal(float32ToFloat16Bits(2 ** -25), 0x0000, 'half the smallest subnormal ties to even zero');
  assert.equal(float32ToFloat16Bits(3 * 2 ** -25), 0x0002, '1.5 subnormal units ties to even 2');
  assert.equal(float32ToFloat16Bits(2 ** -26), 0x0000, 'underflow to zero');
  assert.equal(float32ToFloat16Bits(-(2 ** -26)), 0x8000, 'negative underflow keeps its sign');
  assert.equal(float32ToFloat16Bits(2 ** -14 - 2 ** -25), 0x0400, 'rounding a subnormal up carries into the smallest normal');
});

test('keeps NaN a NaN', () => {
  const bits = float32ToFloat16Bits(NaN);
  assert.equal(bits & 0x7c00, 0x7c00);
  assert.notEqual(bits & 0x03ff, 0);
  assert.ok(Number.isNaN(float16BitsToFloat32(bits)));
});

test('round-trips every binary16 pattern exactly', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const values = fromFloat16Array(all);
  const back = toFloat16Array(values);
  for (let i = 0; i < 65536; i++) {
    if (Number.isNaN(values[i])) continue;
    assert.equal(back[i], i, `pattern 0x${i.toString(16)}`);
  }
  assert.equal(float16BitsToFloat32(0x3555), 0.333251953125);
});
