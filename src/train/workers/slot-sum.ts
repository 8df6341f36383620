// The window's gradient sum over the workers' slots, computed by the workers themselves: each sums one share of the
// elements, every slot in worker order, so the float32 result is the same as one thread summing everything.

/** Elements summed at a time: a block of the sum stays in cache while every slot is added to it. */
const block = 4096;

/** sum[j] = slots[w0][j] + slots[w1][j] + … (workers in order) for j in [from, to). */
export function sumSlotShare(
  sum: Float32Array,
  slots: readonly Float32Array[],
  workers: readonly number[],
  from: number,
  to: number,
): void {
  for (let blockStart = from; blockStart < to; blockStart += block) {
    const blockEnd = Math.min(to, blockStart + block);
    sum.set(slots[workers[0]].subarray(blockStart, blockEnd), blockStart);
    for (let k = 1; k < workers.length; k++) {
      const slot = slots[workers[k]];
      for (let j = blockStart; j < blockEnd; j++) sum[j] += slot[j];
    }
  }
}

/** [start, end) of each of `count` shares of `length` elements, cut at multiples of 16 (64 bytes: no cache line is shared). */
export function slotShares(length: number, count: number): Array<[number, number]> {
  const share = Math.ceil(length / count / 16) * 16;
  return Array.from({ length: count }, (_, k) => {
    const start = Math.min(length, k * share);
    return [start, Math.min(length, start + share)];
  });
}
