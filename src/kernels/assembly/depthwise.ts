// Depthwise convolution gradients (NHWC, channel multiplier m, no dilation), SIMD over channels:
//   filter: dW[i, j, c, q] = Σ over n, oh, ow of x[n, oh·s + i − top, ow·s + j − left, c] · dy[n, oh, ow, c·m + q]
//   input:  dx[n, oh·s + i − top, ow·s + j − left, c] += Σ over q of dy[n, oh, ow, c·m + q] · W[i, j, c, q], over all taps (i, j)
// Both walk one output row at a time, tap by tap, so the rows they touch stay in the first-level cache.
// Pointers are byte addresses on the shared heap; `sums` is float64 scratch of filterHeight·filterWidth·channels·m values.

import { addLanes, clearSums, endInside, firstInside, storeSums } from './sums';

export function depthwiseFilterGradient(
  x: usize,
  dy: usize,
  output: usize,
  sums: usize,
  batch: i32,
  inHeight: i32,
  inWidth: i32,
  channels: i32,
  multiplier: i32,
  outHeight: i32,
  outWidth: i32,
  filterHeight: i32,
  filterWidth: i32,
  strideHeight: i32,
  strideWidth: i32,
  top: i32,
  left: i32,
): void {
  const outChannels = channels * multiplier;
  const count = filterHeight * filterWidth * outChannels;
  clearSums(sums, count);
  const xPixel = (<usize>channels) << 2;
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
          const tapSums = sums + ((<usize>((i * filterWidth + j) * outChannels)) << 3);
          const xStart = xRow + <usize>(start * strideWidth + offset) * xPixel;
          const dyStart = dyRow + <usize>start * dyPixel;
          const xStep = <usize>strideWidth * xPixel;
          if (multiplier === 1) productRow(xStart, dyStart, tapSums, channels, end - start, xStep, dyPixel);
          else productRowMultiplied(xStart, dyStart, tapSums, channels, multiplier, end - start, xStep, dyPixel);
        }
      }
    }
  }
  storeSums(sums, output, count, 1);
}

/** sums[c] += Σ over k < count of x[k·xStep + c] · dy[k·dyStep + c], 16 channels at a time in float32 registers. */
function productRow(x: usize, dy: usize, sums: usize, channels: i32, count: i32, xStep: usize, dyStep: usize): void {
  let c = 0;
  for (; c + 16 <= channels; c += 16) {
    let xp = x + ((<usize>c) << 2);
    let dp = dy + ((<usize>c) << 2);
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    for (let k = 0; k < count; k++) {
      a0 = f32x4.add(a0, f32x4.mul(v128.load(xp), v128.load(dp)));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(xp, 16), v128.load(dp, 16)));
      a2 = f32x4.add(a2, f32x4.mul(v128.load(xp, 32), v128.load(dp, 32)));
      a3 = f32x4.add(a3, f32x4.mul(v128.load(xp, 48), v128.load(dp, 48)));
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
    let xp = x + ((<usize>c) << 2);
    let dp = dy + ((<usize>c) << 2);
    let a0 = f32x4.splat(0);
    for (let k = 0; k < count; k++) {
      a0 = f32x4.add(a0, f32x4.mul(v128.load(xp), v128.load(dp)));
      xp += xStep;
      dp += dyStep;
    }
    addLanes(sums + ((<usize>c) << 3), a0);
  }
  for (; c < channels; c++) {
    let xp = x + ((<usize>c) << 2);
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

/** productRow for a channel multiplier above 1 (not used by EfficientNet): scalar. */
function productRowMultiplied(
  x: usize,
  dy: usize,
  sums: usize,
  channels: i32,
  multiplier: i32,
  count: i32,
  xStep: usize,
  dyStep: usize,
): void {
  for (let c = 0; c < channels; c++) {
    for (let q = 0; q < multiplier; q++) {
      const k = c * multiplier + q;
      let xp = x + ((<usize>c) << 2);
      let dp = dy + ((<usize>k) << 2);
      let a: f32 = 0;
      for (let t = 0; t < count; t++) {
        a += load<f32>(xp) * load<f32>(dp);
        xp += xStep;
        dp += dyStep;
      }
      const s = sums + ((<usize>k) << 3);
      store<f64>(s, load<f64>(s) + <f64>a);
    }
  }
}

export function depthwiseInputGradient(
  dy: usize,
  filter: usize,
  dx: usize,
  batch: i32,
  inHeight: i32,
  inWidth: i32,
  channels: i32,
  multiplier: i32,
  outHeight: i32,
  outWidth: i32,
  filterHeight: i32,
  filterWidth: i32,
  strideHeight: i32,
  strideWidth: i32,
  top: i32,
  left: i32,
): void {
  const outChannels = channels * multiplier;
  const dxPixel = (<usize>channels) << 2;
  const dyPixel = (<usize>outChannels) << 2;
  memory.fill(dx, 0, <usize>(batch * inHeight * inWidth) * dxPixel);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const dyRow = dy + <usize>((n * outHeight + oh) * outWidth) * dyPixel;
      for (let i = 0; i < filterHeight; i++) {
        const h = oh * strideHeight + i - top;
        if (h < 0 || h >= inHeight) continue;
        const dxRow = dx + <usize>((n * inHeight + h) * inWidth) * dxPixel;
        for (let j = 0; j < filterWidth; j++) {
          const offset = j - left;
          const start = firstInside(offset, strideWidth);
          const end = endInside(offset, strideWidth, inWidth, outWidth);
          if (start >= end) continue;
          const tap = filter + ((<usize>((i * filterWidth + j) * outChannels)) << 2);
          const dxStart = dxRow + <usize>(start * strideWidth + offset) * dxPixel;
          const dyStart = dyRow + <usize>start * dyPixel;
          const dxStep = <usize>strideWidth * dxPixel;
          if (multiplier === 1) scaledAddRow(dxStart, dyStart, tap, channels, end - start, dxStep, dyPixel);
          else scaledAddRowMultiplied(dxStart, dyStart, tap, channels, multiplier, end - start, dxStep, dyPixel);
        }
      }
    }
  }
}

/** dx[k·dxStep + c] += dy[k·dyStep + c] · tap[c] for k < count, 16 channels at a time with the tap in registers. */
function scaledAddRow(dx: usize, dy: usize, tap: usize, channels: i32, count: i32, dxStep: usize, dyStep: usize): void {
  let c = 0;
  for (; c + 16 <= channels; c += 16) {
    const offset = (<usize>c) << 2;
    const w0 = v128.load(tap + offset);
    const w1 = v128.load(tap + offset, 16);
    const w2 = v128.load(tap + offset, 32);
    const w3 = v128.load(tap + offset, 48);
    let xp = dx + offset;
    let dp = dy + offset;
    for (let k = 0; k < count; k++) {
      v128.store(xp, f32x4.add(v128.load(xp), f32x4.mul(v128.load(dp), w0)));
      v128.store(xp, f32x4.add(v128.load(xp, 16), f32x4.mul(v128.load(dp, 16), w1)), 16);
      v128.store(xp, f32x4.add(v128.load(xp, 32), f32x4.mul(v128.load(dp, 32), w2)), 32);
      v128.store(xp, f32x4.add(v128.load(xp, 48), f32x4.mul(v128.load(dp, 48), w3)), 48);
      xp += dxStep;
      dp += dyStep;
    }
  }
  for (; c + 4 <= channels; c += 4) {
    const offset = (<usize>c) << 2;
    const w0 = v128.load(tap + offset);
    let xp = dx + offset;
    let dp = dy + offset;
    for (let k = 0; k < count; k++) {
      v128.store(xp, f32x4.add(v128.load(xp), f32x4.mul(v128.load(dp), w0)));
      xp += dxStep;
      dp += dyStep;
    }
  }
  for (; c < channels; c++) {
    const offset = (<usize>c) << 2;
    const w = load<f32>(tap + offset);
    let xp = dx + offset;
    let dp = dy + offset;
    for (let k = 0; k < count; k++) {
      store<f32>(xp, load<f32>(xp) + load<f32>(dp) * w);
      xp += dxStep;
      dp += dyStep;
    }
  }
}

/** scaledAddRow for a channel multiplier above 1: dx[c] += Σ over q of dy[c·m + q] · tap[c·m + q]. Scalar. */
function scaledAddRowMultiplied(
  dx: usize,
  dy: usize,
  tap: usize,
  channels: i32,
  multiplier: i32,
  count: i32,
  dxStep: usize,
  dyStep: usize,
): void {
  for (let c = 0; c < channels; c++) {
    let xp = dx + ((<usize>c) << 2);
    let dp = dy + ((<usize>(c * multiplier)) << 2);
    const wp = tap + ((<usize>(c * multiplier)) << 2);
    for (let k = 0; k < count; k++) {
      let a: f32 = 0;
      for (let q = 0; q < multiplier; q++) a += load<f32>(dp + ((<usize>q) << 2)) * load<f32>(wp + ((<usize>q) << 2));
      store<f32>(xp, load<f32>(xp) + a);
      xp += dxStep;
      dp += dyStep;
    }
  }
}
