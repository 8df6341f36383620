// The input gradient of a 1×1, stride-1 convolution, dy · Wᵀ over `rows` = N·H·W pixels:
//   dx[r, ci] = Σ over co of dy[r, co] · W[ci, co]
// W ([inChannels, outChannels]) is first transposed into `transposed` scratch ([outChannels, inChannels]), so that 8 input
// channels of one output channel are contiguous for the product. The filter changes at every update, so this is done at
// every call, in SIMD blocks: element by element it took a third of the product's time for a late layer at micro-batch 1.

import { matrixProduct } from './matrix-product';

export function pointwiseInputGradient(
  dy: usize,
  filter: usize,
  dx: usize,
  transposed: usize,
  rows: i32,
  inChannels: i32,
  outChannels: i32,
): void {
  transpose(filter, transposed, inChannels, outChannels);
  matrixProduct(dy, transposed, dx, 0, rows, outChannels, inChannels);
}

/** t[j, i] = m[i, j] for m of `rows` × `columns`, in 4 × 4 blocks of SIMD shuffles (element by element at the edges). */
function transpose(m: usize, t: usize, rows: i32, columns: i32): void {
  const mRow = (<usize>columns) << 2;
  const tRow = (<usize>rows) << 2;
  const blockRows = rows & ~3;
  const blockColumns = columns & ~3;
  for (let i = 0; i < blockRows; i += 4) {
    for (let j = 0; j < blockColumns; j += 4) {
      const from = m + <usize>i * mRow + ((<usize>j) << 2);
      const r0 = v128.load(from);
      const r1 = v128.load(from + mRow);
      const r2 = v128.load(from + 2 * mRow);
      const r3 = v128.load(from + 3 * mRow);
      const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
      const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
      const to = t + <usize>j * tRow + ((<usize>i) << 2);
      v128.store(to, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
      v128.store(to + tRow, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
      v128.store(to + 2 * tRow, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
      v128.store(to + 3 * tRow, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
    }
  }
  for (let i = 0; i < rows; i++) {
    const first = i < blockRows ? blockColumns : 0;
    for (let j = first; j < columns; j++) {
      store<f32>(t + <usize>j * tRow + ((<usize>i) << 2), load<f32>(m + <usize>i * mRow + ((<usize>j) << 2)));
    }
  }
}

/** The forward 1×1, stride-1 convolution, x · W (+ bias), with the filter as tfjs keeps it ([inChannels, outChannels]). */
export function pointwiseConvolution(x: usize, filter: usize, bias: usize, y: usize, rows: i32, inChannels: i32, outChannels: i32): void {
  matrixProduct(x, filter, y, bias, rows, inChannels, outChannels);
}
