// c[rows, n] = a[rows, k] · b[k, n] (+ bias[n]), all row-major: the product under the 1×1 convolutions, forward (x · W) and
// input gradient (dy · Wᵀ). It reads b as it is, so a convolution's filter needs no packing: XNNPACK packs every new filter
// before its first product, which costs more than the product itself for the small N·H·W of a training micro-batch's late
// layers, and a filter changes at every update.
// 4 rows × 8 columns of c stay in registers over all of k.

export function matrixProduct(a: usize, b: usize, c: usize, bias: usize, rows: i32, k: i32, n: i32): void {
  const aRow = (<usize>k) << 2;
  const cRow = (<usize>n) << 2;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const aBlock = a + <usize>r * aRow;
    const cBlock = c + <usize>r * cRow;
    let column = 0;
    for (; column + 8 <= n; column += 8) {
      const offset = (<usize>column) << 2;
      products4x8(aBlock, b + offset, cBlock + offset, bias ? bias + offset : 0, k, aRow, cRow);
    }
    for (let q = 0; q < 4; q++) dotProducts(aBlock + <usize>q * aRow, b, cBlock + <usize>q * cRow, bias, column, k, n);
  }
  for (; r < rows; r++) dotProducts(a + <usize>r * aRow, b, c + <usize>r * cRow, bias, 0, k, n);
}

/** c[q, 0..8) = bias[0..8) + Σ over i of a[q, i] · b[i, 0..8) for 4 rows q (b's rows are cRow bytes apart, as c's). */
function products4x8(a: usize, b: usize, c: usize, bias: usize, k: i32, aRow: usize, cRow: usize): void {
  const bRow = cRow;
  const b0 = bias ? v128.load(bias) : f32x4.splat(0);
  const b1 = bias ? v128.load(bias, 16) : f32x4.splat(0);
  let a00 = b0;
  let a01 = b1;
  let a10 = b0;
  let a11 = b1;
  let a20 = b0;
  let a21 = b1;
  let a30 = b0;
  let a31 = b1;
  let ap = a;
  let bp = b;
  for (let i = 0; i < k; i++) {
    const w0 = v128.load(bp);
    const w1 = v128.load(bp, 16);
    const d0 = v128.load32_splat(ap);
    a00 = f32x4.add(a00, f32x4.mul(d0, w0));
    a01 = f32x4.add(a01, f32x4.mul(d0, w1));
    const d1 = v128.load32_splat(ap + aRow);
    a10 = f32x4.add(a10, f32x4.mul(d1, w0));
    a11 = f32x4.add(a11, f32x4.mul(d1, w1));
    const d2 = v128.load32_splat(ap + 2 * aRow);
    a20 = f32x4.add(a20, f32x4.mul(d2, w0));
    a21 = f32x4.add(a21, f32x4.mul(d2, w1));
    const d3 = v128.load32_splat(ap + 3 * aRow);
    a30 = f32x4.add(a30, f32x4.mul(d3, w0));
    a31 = f32x4.add(a31, f32x4.mul(d3, w1));
    ap += 4;
    bp += bRow;
  }
  v128.store(c, a00);
  v128.store(c, a01, 16);
  v128.store(c + cRow, a10);
  v128.store(c + cRow, a11, 16);
  v128.store(c + 2 * cRow, a20);
  v128.store(c + 2 * cRow, a21, 16);
  v128.store(c + 3 * cRow, a30);
  v128.store(c + 3 * cRow, a31, 16);
}

/** c[j] = bias[j] + Σ over i of a[i] · b[i, j] for first ≤ j < n, one row (the blocks' remainders). */
function dotProducts(a: usize, b: usize, c: usize, bias: usize, first: i32, k: i32, n: i32): void {
  const bRow = (<usize>n) << 2;
  for (let j = first; j < n; j++) {
    let bp = b + ((<usize>j) << 2);
    let sum: f32 = bias ? load<f32>(bias + ((<usize>j) << 2)) : 0;
    for (let i = 0; i < k; i++) {
      sum += load<f32>(a + ((<usize>i) << 2)) * load<f32>(bp);
      bp += bRow;
    }
    store<f32>(c + ((<usize>j) << 2), sum);
  }
}
