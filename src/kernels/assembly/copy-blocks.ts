// Strided block copies for Slice: tfjs-wasm copies its whole input to JavaScript first, then slices it one innermost row
// at a time. Here the host collapses the slice into contiguous runs of `bytes` over up to three strided outer axes.

export function copyBlocks(
  source: usize,
  target: usize,
  bytes: usize,
  count0: i32,
  stride0: usize,
  count1: i32,
  stride1: usize,
  count2: i32,
  stride2: usize,
): void {
  let to = target;
  for (let i0 = 0; i0 < count0; i0++) {
    for (let i1 = 0; i1 < count1; i1++) {
      let from = source + <usize>i0 * stride0 + <usize>i1 * stride1;
      for (let i2 = 0; i2 < count2; i2++) {
        memory.copy(to, from, bytes);
        to += bytes;
        from += stride2;
      }
    }
  }
}
