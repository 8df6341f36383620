// The input gradient of a 1×1, stride-1 convolution, dy · Wᵀ over `rows` = N·H·W pixels:
//   dx[r, ci] = Σ over co of dy[r, co] · W[ci, co]
// W ([inChannels, outChannels]) is first transposed into `transposed` scratch ([outChannels, inChannels]), so that 8 input
// channels of one output channel are contiguous; 4 rows × 8 input channels then stay in registers over all output channels.

export function pointwiseInputGradient(
  dy: usize,
  filter: usize,
  dx: usize,
  transposed: usize,
  rows: i32,
  inChannels: i32,
  outChannels: i32,
): void {
  for (let ci = 0; ci < inChannels; ci++) {
    for (let co = 0; co < outChannels; co++) {
      store<f32>(transposed + ((<usize>(co * inChannels + ci)) << 2), load<f32>(filter + ((<usize>(ci * outChannels + co)) << 2)));
    }
  }
  const dyRow = (<usize>outChannels) << 2;
  const dxRow = (<usize>inChannels) << 2;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const dyBlock = dy + <usize>r * dyRow;
    const dxBlock = dx + <usize>r * dxRow;
    let ci = 0;
    for (; ci + 8 <= inChannels; ci += 8) {
      products4x8(dyBlock, transposed + ((<usize>ci) << 2), dxBlock + ((<usize>ci) << 2), outChannels, dyRow, dxRow);
    }
    for (let q = 0; q < 4; q++)
      dotProducts(dyBlock + <usize>q * dyRow, transposed, dxBlock + <usize>q * dxRow, ci, inChannels, outChannels);
  }
  for (; r < rows; r++) dotProducts(dy + <usize>r * dyRow, transposed, dx + <usize>r * dxRow, 0, inChannels, outChannels);
}

/** dx[q, 0..8) = Σ over co of dy[q, co] · wt[co, 0..8) for 4 rows q (wt rows are inChannels apart). */
function products4x8(dy: usize, wt: usize, dx: usize, outChannels: i32, dyRow: usize, dxRow: usize): void {
  const wtRow = dxRow;
  let a00 = f32x4.splat(0);
  let a01 = f32x4.splat(0);
  let a10 = f32x4.splat(0);
  let a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0);
  let a21 = f32x4.splat(0);
  let a30 = f32x4.splat(0);
  let a31 = f32x4.splat(0);
  let dp = dy;
  let wp = wt;
  for (let co = 0; co < outChannels; co++) {
    const w0 = v128.load(wp);
    const w1 = v128.load(wp, 16);
    const d0 = v128.load32_splat(dp);
    a00 = f32x4.add(a00, f32x4.mul(d0, w0));
    a01 = f32x4.add(a01, f32x4.mul(d0, w1));
    const d1 = v128.load32_splat(dp + dyRow);
    a10 = f32x4.add(a10, f32x4.mul(d1, w0));
    a11 = f32x4.add(a11, f32x4.mul(d1, w1));
    const d2 = v128.load32_splat(dp + 2 * dyRow);
    a20 = f32x4.add(a20, f32x4.mul(d2, w0));
    a21 = f32x4.add(a21, f32x4.mul(d2, w1));
    const d3 = v128.load32_splat(dp + 3 * dyRow);
    a30 = f32x4.add(a30, f32x4.mul(d3, w0));
    a31 = f32x4.add(a31, f32x4.mul(d3, w1));
    dp += 4;
    wp += wtRow;
  }
  v128.store(dx, a00);
  v128.store(dx, a01, 16);
  v128.store(dx + dxRow, a10);
  v128.store(dx + dxRow, a11, 16);
  v128.store(dx + 2 * dxRow, a20);
  v128.store(dx + 2 * dxRow, a21, 16);
  v128.store(dx + 3 * dxRow, a30);
  v128.store(dx + 3 * dxRow, a31, 16);
}

/** dx[ci] = Σ over co of dy[co] · wt[co, ci] for first ≤ ci < inChannels, one row (the blocks' remainders). */
function dotProducts(dy: usize, wt: usize, dx: usize, first: i32, inChannels: i32, outChannels: i32): void {
  const wtRow = (<usize>inChannels) << 2;
  for (let ci = first; ci < inChannels; ci++) {
    let wp = wt + ((<usize>ci) << 2);
    let sum: f32 = 0;
    for (let co = 0; co < outChannels; co++) {
      sum += load<f32>(dy + ((<usize>co) << 2)) * load<f32>(wp);
      wp += wtRow;
    }
    store<f32>(dx + ((<usize>ci) << 2), sum);
  }
}
