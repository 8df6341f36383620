// Float64 running sums for the kernels' long reductions: partial sums are kept in float32 lanes over a short run (one row),
// then added here, so a sum over N·H·W terms does not lose float32 precision with its length.

/** sums[0..4) += the four float32 lanes of `lanes` (sums: 4 float64 at a 16-byte-aligned address). */
export function addLanes(sums: usize, lanes: v128): void {
  v128.store(sums, f64x2.add(v128.load(sums), f64x2.promote_low_f32x4(lanes)));
  v128.store(sums, f64x2.add(v128.load(sums, 16), f64x2.promote_low_f32x4(f32x4.shuffle(lanes, lanes, 2, 3, 0, 1))), 16);
}

/**
 * Writes 4 float32 lanes of a finished sum: added to float64 sums (4 × 8 bytes) or, `direct`, stored as the float32 result
 * (4 × 4 bytes) when the whole sum was one float32 block.
 */
export function putLanes(target: usize, lanes: v128, direct: bool): void {
  if (direct) v128.store(target, lanes);
  else addLanes(target, lanes);
}

/** putLanes for one value. */
export function putValue(target: usize, value: f32, direct: bool): void {
  if (direct) store<f32>(target, value);
  else store<f64>(target, load<f64>(target) + <f64>value);
}

/** Zeroes `count` float64 sums. */
export function clearSums(sums: usize, count: i32): void {
  memory.fill(sums, 0, (<usize>count) << 3);
}

/** output[k] = f32(sums[k]·scale) for k < count. */
export function storeSums(sums: usize, output: usize, count: i32, scale: f64): void {
  for (let k = 0; k < count; k++) {
    store<f32>(output + ((<usize>k) << 2), <f32>(load<f64>(sums + ((<usize>k) << 3)) * scale));
  }
}

/** The first output index whose input index `index·stride + offset` is ≥ 0. */
export function firstInside(offset: i32, stride: i32): i32 {
  return offset >= 0 ? 0 : (stride - 1 - offset) / stride;
}

/** One past the last output index (at most `outSize`) whose input index `index·stride + offset` is < `inSize`. */
export function endInside(offset: i32, stride: i32, inSize: i32, outSize: i32): i32 {
  const last = inSize - 1 - offset;
  if (last < 0) return 0;
  const end = last / stride + 1;
  return min<i32>(end, outSize);
}
