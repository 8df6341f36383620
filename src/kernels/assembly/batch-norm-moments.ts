// BatchNorm's batch statistics over all axes but the last (tf.moments of an NHWC tensor over N·H·W) in one call and no
// full-size temporary: the mean, then the variance as the mean of (x − mean)², two passes over x as tf.moments makes. The
// blocks and the float32/float64 mix are those of tfjs' Mean on wasm (sumMiddleAxis), so the numbers are tf.moments' there.

import { addPartialSums, addRow, blockRows } from './row-sums';
import { clearSums, storeSums } from './sums';

/** `scratch`: 12·channels bytes (float64 sums, then float32 partial sums). */
export function channelMoments(x: usize, mean: usize, variance: usize, scratch: usize, rows: i32, channels: i32): void {
  const sums = scratch;
  const partial = scratch + ((<usize>channels) << 3);
  const rowBytes = (<usize>channels) << 2;
  const scale = 1.0 / <f64>rows;
  clearSums(sums, channels);
  for (let first = 0; first < rows; first += blockRows) {
    const block = min<i32>(rows - first, blockRows);
    const start = x + <usize>first * rowBytes;
    memory.copy(partial, start, rowBytes);
    for (let r = 1; r < block; r++) addRow(partial, start + <usize>r * rowBytes, channels);
    addPartialSums(sums, partial, channels);
  }
  storeSums(sums, mean, channels, scale);
  clearSums(sums, channels);
  for (let first = 0; first < rows; first += blockRows) {
    const block = min<i32>(rows - first, blockRows);
    const start = x + <usize>first * rowBytes;
    memory.fill(partial, 0, rowBytes);
    for (let r = 0; r < block; r++) addSquaredDeviations(partial, start + <usize>r * rowBytes, mean, channels);
    addPartialSums(sums, partial, channels);
  }
  storeSums(sums, variance, channels, scale);
}

/** partial[c] += (row[c] − mean[c])², each step rounded to float32 as tfjs' Sub and Square round it. */
function addSquaredDeviations(partial: usize, row: usize, mean: usize, channels: i32): void {
  let c = 0;
  for (; c + 16 <= channels; c += 16) {
    const p = partial + ((<usize>c) << 2);
    const q = row + ((<usize>c) << 2);
    const m = mean + ((<usize>c) << 2);
    const d0 = f32x4.sub(v128.load(q), v128.load(m));
    const d1 = f32x4.sub(v128.load(q, 16), v128.load(m, 16));
    const d2 = f32x4.sub(v128.load(q, 32), v128.load(m, 32));
    const d3 = f32x4.sub(v128.load(q, 48), v128.load(m, 48));
    v128.store(p, f32x4.add(v128.load(p), f32x4.mul(d0, d0)));
    v128.store(p, f32x4.add(v128.load(p, 16), f32x4.mul(d1, d1)), 16);
    v128.store(p, f32x4.add(v128.load(p, 32), f32x4.mul(d2, d2)), 32);
    v128.store(p, f32x4.add(v128.load(p, 48), f32x4.mul(d3, d3)), 48);
  }
  for (; c + 4 <= channels; c += 4) {
    const at = (<usize>c) << 2;
    const d = f32x4.sub(v128.load(row + at), v128.load(mean + at));
    v128.store(partial + at, f32x4.add(v128.load(partial + at), f32x4.mul(d, d)));
  }
  for (; c < channels; c++) {
    const at = (<usize>c) << 2;
    const d = load<f32>(row + at) - load<f32>(mean + at);
    store<f32>(partial + at, load<f32>(partial + at) + d * d);
  }
}
