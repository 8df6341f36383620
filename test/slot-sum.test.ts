import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slotShares, sumSlotShare } from '../src/train/workers/slot-sum.ts';

test('the workers summing one share each give the bit-for-bit float32 sum of one thread adding every slot in worker order', () => {
  const length = 10_007; // not a multiple of the 4096-element block nor of 16
  let seed = 7;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return (seed / 2 ** 31 - 0.5) * 10 ** ((seed % 7) - 3); // magnitudes from 1e-3 to 1e3: rounding differs with the order
  };
  const slots = Array.from({ length: 4 }, () => Float32Array.from({ length }, random));
  const workers = [2, 0, 3]; // the contributing workers, in order; slot 1 did not train
  const expected = new Float32Array(length);
  expected.set(slots[workers[0]]);
  for (const worker of workers.slice(1)) for (let j = 0; j < length; j++) expected[j] += slots[worker][j];

  for (const count of [1, 2, 3, 5]) {
    const shares = slotShares(length, count);
    assert.equal(shares.length, count);
    assert.equal(shares[0][0], 0);
    assert.equal(shares.at(-1)![1], length, `${count} shares cover every element`);
    for (let k = 1; k < count; k++) {
      assert.equal(shares[k][0], shares[k - 1][1], 'shares meet without a gap or an overlap');
      assert.equal(shares[k][0] % 16, 0, 'a share starts on a 64-byte line');
    }
    const sum = new Float32Array(length).fill(Number.NaN);
    for (const [start, end] of shares) sumSlotShare(sum, slots, workers, start, end);
    assert.deepEqual(sum, expected, `${count} shares`);
  }
  // Addition order matters in float32: the other order gives another result somewhere, so the check above could fail.
  const reversed = new Float32Array(length);
  sumSlotShare(reversed, slots, [...workers].reverse(), 0, length);
  assert.notDeepEqual(reversed, expected);
});
