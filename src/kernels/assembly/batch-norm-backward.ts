// Training-mode BatchNorm's backward pass in one call, two passes over dy and x and no full-size temporary: with
// x̂ = (x − mean)/σ over all axes but the last (n values per channel), dβ = Σdy and dγ = Σdy·x̂ in the first pass (sums as
// tf.sum's on wasm: float32 blocks of rows, then float64), dx = γ/σ·dy + (x̂·(−γ/σ·dγ/n) + (−γ/σ·dβ/n)) in the second. The
// operation order is the lean backward pass's with tfjs ops (src/memory/lean-backward/rules/batch-normalization.ts), each step
// rounded to float32 as there, so the two differ by rounding at most.

import { addPartialSums, blockRows } from './row-sums';
import { clearSums, storeSums } from './sums';

/**
 * `scale` (γ) may be 0 (none: 1) and `dx` 0 (not wanted). `scratch`: 36·channels bytes. `epsilon` is rounded to float32 by
 * the call, as tfjs rounds its scalar.
 */
export function batchNormBackward(
  dy: usize,
  x: usize,
  mean: usize,
  variance: usize,
  scale: usize,
  dx: usize,
  dScale: usize,
  dOffset: usize,
  scratch: usize,
  rows: i32,
  channels: i32,
  epsilon: f32,
): void {
  const floats = (<usize>channels) << 2;
  const offsetSums = scratch;
  const scaleSums = scratch + (floats << 1);
  const inverse = scratch + (floats << 2);
  const shift = inverse + floats;
  // Partial sums in the first pass, the per-channel factors of dx in the second.
  const offsetPartial = shift + floats;
  const scalePartial = offsetPartial + floats;
  const dyFactor = offsetPartial;
  const normalizedFactor = scalePartial;
  const constant = scalePartial + floats;
  for (let c = 0; c < channels; c++) {
    const at = (<usize>c) << 2;
    // tfjs-wasm's Rsqrt: 1 / sqrt in float32.
    const value: f32 = <f32>1 / sqrt<f32>(load<f32>(variance + at) + epsilon);
    store<f32>(inverse + at, value);
    store<f32>(shift + at, -(load<f32>(mean + at) * value));
  }
  clearSums(offsetSums, channels);
  clearSums(scaleSums, channels);
  for (let first = 0; first < rows; first += blockRows) {
    const block = min<i32>(rows - first, blockRows);
    memory.fill(offsetPartial, 0, floats << 1);
    for (let r = first; r < first + block; r++) {
      const at = <usize>r * floats;
      addGradientSums(offsetPartial, scalePartial, dy + at, x + at, inverse, shift, channels);
    }
    addPartialSums(offsetSums, offsetPartial, channels);
    addPartialSums(scaleSums, scalePartial, channels);
  }
  storeSums(offsetSums, dOffset, channels, 1);
  storeSums(scaleSums, dScale, channels, 1);
  if (!dx) return;
  const count = <f32>rows;
  for (let c = 0; c < channels; c++) {
    const at = (<usize>c) << 2;
    const factor: f32 = (scale ? load<f32>(scale + at) : <f32>1) * load<f32>(inverse + at);
    store<f32>(dyFactor + at, factor);
    store<f32>(normalizedFactor + at, -(factor * (load<f32>(dScale + at) / count)));
    store<f32>(constant + at, -(factor * (load<f32>(dOffset + at) / count)));
  }
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * floats;
    inputGradientRow(dx + at, dy + at, x + at, inverse, shift, dyFactor, normalizedFactor, constant, channels);
  }
}

/** offsetPartial[c] += dy[c]; scalePartial[c] += dy[c]·(x[c]·inverse[c] + shift[c]), for one row. */
function addGradientSums(
  offsetPartial: usize,
  scalePartial: usize,
  dy: usize,
  x: usize,
  inverse: usize,
  shift: usize,
  channels: i32,
): void {
  let c = 0;
  for (; c + 4 <= channels; c += 4) {
    const at = (<usize>c) << 2;
    const gradient = v128.load(dy + at);
    const normalized = f32x4.add(f32x4.mul(v128.load(x + at), v128.load(inverse + at)), v128.load(shift + at));
    v128.store(offsetPartial + at, f32x4.add(v128.load(offsetPartial + at), gradient));
    v128.store(scalePartial + at, f32x4.add(v128.load(scalePartial + at), f32x4.mul(gradient, normalized)));
  }
  for (; c < channels; c++) {
    const at = (<usize>c) << 2;
    const gradient = load<f32>(dy + at);
    const normalized = load<f32>(x + at) * load<f32>(inverse + at) + load<f32>(shift + at);
    store<f32>(offsetPartial + at, load<f32>(offsetPartial + at) + gradient);
    store<f32>(scalePartial + at, load<f32>(scalePartial + at) + gradient * normalized);
  }
}

/** dx[c] = dy[c]·dyFactor[c] + ((x[c]·inverse[c] + shift[c])·normalizedFactor[c] + constant[c]), for one row. */
function inputGradientRow(
  dx: usize,
  dy: usize,
  x: usize,
  inverse: usize,
  shift: usize,
  dyFactor: usize,
  normalizedFactor: usize,
  constant: usize,
  channels: i32,
): void {
  let c = 0;
  for (; c + 4 <= channels; c += 4) {
    const at = (<usize>c) << 2;
    const normalized = f32x4.add(f32x4.mul(v128.load(x + at), v128.load(inverse + at)), v128.load(shift + at));
    const fromNormalized = f32x4.add(f32x4.mul(normalized, v128.load(normalizedFactor + at)), v128.load(constant + at));
    v128.store(dx + at, f32x4.add(f32x4.mul(v128.load(dy + at), v128.load(dyFactor + at)), fromNormalized));
  }
  for (; c < channels; c++) {
    const at = (<usize>c) << 2;
    const normalized = load<f32>(x + at) * load<f32>(inverse + at) + load<f32>(shift + at);
    const fromNormalized = normalized * load<f32>(normalizedFactor + at) + load<f32>(constant + at);
    store<f32>(dx + at, load<f32>(dy + at) * load<f32>(dyFactor + at) + fromNormalized);
  }
}
