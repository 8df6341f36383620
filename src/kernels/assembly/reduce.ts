// Sums over the middle axis of a [outer, reduce, inner] float32 array (NHWC reduced over N·H·W, or over H·W per image) without
// tfjs-wasm's transpose: rows are added as they lie in memory, `inner` values at a time. Each block of up to 256 rows is summed
// in float32 (`partial`, inner values), then added to float64 `sums` (inner values), so long reductions keep their precision.

import { addPartialSums, addRow, blockRows } from './row-sums';
import { storeSums } from './sums';

export function sumMiddleAxis(x: usize, output: usize, partial: usize, sums: usize, outer: i32, reduce: i32, inner: i32, scale: f64): void {
  const rowBytes = (<usize>inner) << 2;
  for (let o = 0; o < outer; o++) {
    memory.fill(sums, 0, (<usize>inner) << 3);
    const slab = x + <usize>o * <usize>reduce * rowBytes;
    for (let first = 0; first < reduce; first += blockRows) {
      const block = min<i32>(reduce - first, blockRows);
      memory.copy(partial, slab + <usize>first * rowBytes, rowBytes);
      for (let r = 1; r < block; r++) addRow(partial, slab + <usize>(first + r) * rowBytes, inner);
      addPartialSums(sums, partial, inner);
    }
    storeSums(sums, output + ((<usize>(o * inner)) << 2), inner, scale);
  }
}
