// The filter gradient of a regular convolution (NHWC, no dilation), SIMD over output channels:
//   dW[i, j, ci, co] = Σ over n, oh, ow of x[n, oh·s + i − top, ow·s + j − left, ci] · dy[n, oh, ow, co]
// `sums` is float64 scratch of filterHeight·filterWidth·inChannels·outChannels values.

import { clearSums, endInside, firstInside, putLanes, putValue, storeSums } from './sums';

export function convFilterGradient(
  x: usize,
  dy: usize,
  output: usize,
  sums: usize,
  batch: i32,
  inHeight: i32,
  inWidth: i32,
  inChannels: i32,
  outHeight: i32,
  outWidth: i32,
  outChannels: i32,
  filterHeight: i32,
  filterWidth: i32,
  strideHeight: i32,
  strideWidth: i32,
  top: i32,
  left: i32,
): void {
  const count = filterHeight * filterWidth * inChannels * outChannels;
  clearSums(sums, count);
  const xPixel = (<usize>inChannels) << 2;
  const dyPixel = (<usize>outChannels) << 2;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const dyRow = dy + <usize>((n * outHeight + oh) * outWidth) * dyPixel;
      for (let i = 0; i < filterHeight; i++) {
        const h = oh * strideHeight + i - top;
        if (h < 0 || h >= inHeight) continue;
        const xRow = x + <usize>((n * inHeight + h) * inWidth) * xPixel;
        for (let j = 0; j < filterWidth; j++) {
          const offset = j - left;
          const start = firstInside(offset, strideWidth);
          const end = endInside(offset, strideWidth, inWidth, outWidth);
          if (start >= end) continue;
          const xStart = xRow + <usize>(start * strideWidth + offset) * xPixel;
          const dyStart = dyRow + <usize>start * dyPixel;
          const tapSums = sums + ((<usize>((i * filterWidth + j) * inChannels * outChannels)) << 3);
          for (let ci = 0; ci < inChannels; ci++) {
            broadcastProductRow(
              xStart + ((<usize>ci) << 2),
              dyStart,
              tapSums + ((<usize>(ci * outChannels)) << 3),
              outChannels,
              end - start,
              <usize>strideWidth * xPixel,
              dyPixel,
              false,
            );
          }
        }
      }
    }
  }
  storeSums(sums, output, count, 1);
}

/**
 * The filter gradient of a 1×1, stride-1 convolution, xᵀ·dy over `rows` = N·H·W pixels, without the transpose tfjs-wasm's
 * matrix product needs for it: dW[ci, co] = Σ over r of x[r, ci] · dy[r, co]. Rows go in blocks of 256 (summed in float32,
 * then added to float64); within a block, 4 input × 8 output channels at a time stay in registers.
 */
export function pointwiseFilterGradient(
  x: usize,
  dy: usize,
  output: usize,
  sums: usize,
  rows: i32,
  inChannels: i32,
  outChannels: i32,
): void {
  // One block of rows: its float32 sums are the result (no float64 pass over a large filter, such as the 1×1 head's).
  const direct = rows <= 256;
  const target = direct ? output : sums;
  const shift: usize = direct ? 2 : 3;
  if (!direct) clearSums(sums, inChannels * outChannels);
  const xPixel = (<usize>inChannels) << 2;
  const dyPixel = (<usize>outChannels) << 2;
  for (let first = 0; first < rows; first += 256) {
    const block = min<i32>(rows - first, 256);
    const xBlock = x + <usize>first * xPixel;
    const dyBlock = dy + <usize>first * dyPixel;
    let ci = 0;
    for (; ci + 4 <= inChannels; ci += 4) {
      let co = 0;
      for (; co + 8 <= outChannels; co += 8) {
        outerProducts4x8(
          xBlock + ((<usize>ci) << 2),
          dyBlock + ((<usize>co) << 2),
          target + ((<usize>(ci * outChannels + co)) << shift),
          outChannels,
          block,
          xPixel,
          dyPixel,
          direct,
        );
      }
      if (co === outChannels) continue;
      for (let q = ci; q < ci + 4; q++) {
        const at = q * outChannels + co;
        broadcastProductRow(
          xBlock + ((<usize>q) << 2),
          dyBlock + ((<usize>co) << 2),
          target + ((<usize>at) << shift),
          outChannels - co,
          block,
          xPixel,
          dyPixel,
          direct,
        );
      }
    }
    for (; ci < inChannels; ci++) {
      broadcastProductRow(
        xBlock + ((<usize>ci) << 2),
        dyBlock,
        target + ((<usize>(ci * outChannels)) << shift),
        outChannels,
        block,
        xPixel,
        dyPixel,
        direct,
      );
    }
  }
  if (!direct) storeSums(sums, output, inChannels * outChannels, 1);
}

/** target[q·outChannels + co] (+)= Σ over k < count of x[k·xStep + q] · dy[k·dyStep + co], for q < 4, co < 8 (see putLanes). */
function outerProducts4x8(
  x: usize,
  dy: usize,
  target: usize,
  outChannels: i32,
  count: i32,
  xStep: usize,
  dyStep: usize,
  direct: bool,
): void {
  let xp = x;
  let dp = dy;
  let a00 = f32x4.splat(0);
  let a01 = f32x4.splat(0);
  let a10 = f32x4.splat(0);
  let a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0);
  let a21 = f32x4.splat(0);
  let a30 = f32x4.splat(0);
  let a31 = f32x4.splat(0);
  for (let k = 0; k < count; k++) {
    const d0 = v128.load(dp);
    const d1 = v128.load(dp, 16);
    const x0 = v128.load32_splat(xp);
    a00 = f32x4.add(a00, f32x4.mul(x0, d0));
    a01 = f32x4.add(a01, f32x4.mul(x0, d1));
    const x1 = v128.load32_splat(xp, 4);
    a10 = f32x4.add(a10, f32x4.mul(x1, d0));
    a11 = f32x4.add(a11, f32x4.mul(x1, d1));
    const x2 = v128.load32_splat(xp, 8);
    a20 = f32x4.add(a20, f32x4.mul(x2, d0));
    a21 = f32x4.add(a21, f32x4.mul(x2, d1));
    const x3 = v128.load32_splat(xp, 12);
    a30 = f32x4.add(a30, f32x4.mul(x3, d0));
    a31 = f32x4.add(a31, f32x4.mul(x3, d1));
    xp += xStep;
    dp += dyStep;
  }
  const shift: usize = direct ? 2 : 3;
  const row = (<usize>outChannels) << shift;
  const half = (<usize>4) << shift;
  putLanes(target, a00, direct);
  putLanes(target + half, a01, direct);
  putLanes(target + row, a10, direct);
  putLanes(target + row + half, a11, direct);
  putLanes(target + 2 * row, a20, direct);
  putLanes(target + 2 * row + half, a21, direct);
  putLanes(target + 3 * row, a30, direct);
  putLanes(target + 3 * row + half, a31, direct);
}

/** target[co] (+)= Σ over k < count of x[k·xStep] · dy[k·dyStep + co], 16 output channels at a time in float32 registers. */
function broadcastProductRow(
  x: usize,
  dy: usize,
  target: usize,
  channels: i32,
  count: i32,
  xStep: usize,
  dyStep: usize,
  direct: bool,
): void {
  const shift: usize = direct ? 2 : 3;
  const quarter = (<usize>4) << shift;
  let c = 0;
  for (; c + 16 <= channels; c += 16) {
    let xp = x;
    let dp = dy + ((<usize>c) << 2);
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    for (let k = 0; k < count; k++) {
      const value = f32x4.splat(load<f32>(xp));
      a0 = f32x4.add(a0, f32x4.mul(value, v128.load(dp)));
      a1 = f32x4.add(a1, f32x4.mul(value, v128.load(dp, 16)));
      a2 = f32x4.add(a2, f32x4.mul(value, v128.load(dp, 32)));
      a3 = f32x4.add(a3, f32x4.mul(value, v128.load(dp, 48)));
      xp += xStep;
      dp += dyStep;
    }
    const s = target + ((<usize>c) << shift);
    putLanes(s, a0, direct);
    putLanes(s + quarter, a1, direct);
    putLanes(s + 2 * quarter, a2, direct);
    putLanes(s + 3 * quarter, a3, direct);
  }
  for (; c + 4 <= channels; c += 4) {
    let xp = x;
    let dp = dy + ((<usize>c) << 2);
    let a0 = f32x4.splat(0);
    for (let k = 0; k < count; k++) {
      a0 = f32x4.add(a0, f32x4.mul(f32x4.splat(load<f32>(xp)), v128.load(dp)));
      xp += xStep;
      dp += dyStep;
    }
    putLanes(target + ((<usize>c) << shift), a0, direct);
  }
  for (; c < channels; c++) {
    let xp = x;
    let dp = dy + ((<usize>c) << 2);
    let a: f32 = 0;
    for (let k = 0; k < count; k++) {
      a += load<f32>(xp) * load<f32>(dp);
      xp += xStep;
      dp += dyStep;
    }
    putValue(target + ((<usize>c) << shift), a, direct);
  }
}
