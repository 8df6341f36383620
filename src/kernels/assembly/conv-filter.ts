// The filter gradient of a regular convolution (NHWC, no dilation), SIMD over output channels:
//   dW[i, j, ci, co] = Σ over n, oh, ow of x[n, oh·s + i − top, ow·s + j − left, ci] · dy[n, oh, ow, co]
// `sums` is float64 scratch of filterHeight·filterWidth·inChannels·outChannels values.

import { addLanes, clearSums, endInside, firstInside, storeSums } from './sums';

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
 * matrix product needs for it: dW[ci, co] = Σ over r of x[r, ci] · dy[r, co], in float32 over blocks of 64 rows.
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
  const count = inChannels * outChannels;
  clearSums(sums, count);
  const xPixel = (<usize>inChannels) << 2;
  const dyPixel = (<usize>outChannels) << 2;
  for (let first = 0; first < rows; first += 64) {
    const block = min<i32>(rows - first, 64);
    const xBlock = x + <usize>first * xPixel;
    const dyBlock = dy + <usize>first * dyPixel;
    for (let ci = 0; ci < inChannels; ci++) {
      broadcastProductRow(
        xBlock + ((<usize>ci) << 2),
        dyBlock,
        sums + ((<usize>(ci * outChannels)) << 3),
        outChannels,
        block,
        xPixel,
        dyPixel,
      );
    }
  }
  storeSums(sums, output, count, 1);
}

/** sums[co] += Σ over k < count of x[k·xStep] · dy[k·dyStep + co], 16 output channels at a time in float32 registers. */
function broadcastProductRow(x: usize, dy: usize, sums: usize, channels: i32, count: i32, xStep: usize, dyStep: usize): void {
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
    const s = sums + ((<usize>c) << 3);
    addLanes(s, a0);
    addLanes(s + 32, a1);
    addLanes(s + 64, a2);
    addLanes(s + 96, a3);
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
    addLanes(sums + ((<usize>c) << 3), a0);
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
    const s = sums + ((<usize>c) << 3);
    store<f64>(s, load<f64>(s) + <f64>a);
  }
}
