// Sums over the middle axis of a [outer, reduce, inner] float32 array (NHWC reduced over N·H·W, or over H·W per image) without
// tfjs-wasm's transpose: rows are added as they lie in memory, `inner` values at a time. Each block of up to 256 rows is summed
// in float32 (`partial`, inner values), then added to float64 `sums` (inner values), so long reductions keep their precision.

import { addLanes, storeSums } from './sums';

export function sumMiddleAxis(x: usize, output: usize, partial: usize, sums: usize, outer: i32, reduce: i32, inner: i32, scale: f64): void {
  const rowBytes = (<usize>inner) << 2;
  for (let o = 0; o < outer; o++) {
    memory.fill(sums, 0, (<usize>inner) << 3);
    const slab = x + <usize>o * <usize>reduce * rowBytes;
    for (let first = 0; first < reduce; first += 256) {
      const block = min<i32>(reduce - first, 256);
      memory.copy(partial, slab + <usize>first * rowBytes, rowBytes);
      for (let r = 1; r < block; r++) addRow(partial, slab + <usize>(first + r) * rowBytes, inner);
      addToSums(sums, partial, inner);
    }
    storeSums(sums, output + ((<usize>(o * inner)) << 2), inner, scale);
  }
}

/** partial[c] += row[c] for c < inner. */
function addRow(partial: usize, row: usize, inner: i32): void {
  let c = 0;
  for (; c + 16 <= inner; c += 16) {
    const p = partial + ((<usize>c) << 2);
    const q = row + ((<usize>c) << 2);
    v128.store(p, f32x4.add(v128.load(p), v128.load(q)));
    v128.store(p, f32x4.add(v128.load(p, 16), v128.load(q, 16)), 16);
    v128.store(p, f32x4.add(v128.load(p, 32), v128.load(q, 32)), 32);
    v128.store(p, f32x4.add(v128.load(p, 48), v128.load(q, 48)), 48);
  }
  for (; c + 4 <= inner; c += 4) {
    const p = partial + ((<usize>c) << 2);
    v128.store(p, f32x4.add(v128.load(p), v128.load(row + ((<usize>c) << 2))));
  }
  for (; c < inner; c++) {
    const p = partial + ((<usize>c) << 2);
    store<f32>(p, load<f32>(p) + load<f32>(row + ((<usize>c) << 2)));
  }
}

/** sums[c] += partial[c] (float32 to float64) for c < inner. */
function addToSums(sums: usize, partial: usize, inner: i32): void {
  let c = 0;
  for (; c + 4 <= inner; c += 4) addLanes(sums + ((<usize>c) << 3), v128.load(partial + ((<usize>c) << 2)));
  for (; c < inner; c++) {
    const s = sums + ((<usize>c) << 3);
    store<f64>(s, load<f64>(s) + <f64>load<f32>(partial + ((<usize>c) << 2)));
  }
}
