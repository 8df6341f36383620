// BatchNorm's normalization over the last axis (tfjs' FusedBatchNorm with per-channel mean, variance, scale and offset):
// out[r, c] = (x[r, c] − mean[c]) · scale[c] / √(variance[c] + ε) + offset[c], SIMD over channels. tfjs-wasm's own kernel
// computes each element's broadcast indices and takes 25× as long as an elementwise product.

/**
 * `factors` is scratch for 2·channels float32 values (the per-channel multiplier, then the offset); `scale` and `offset` may
 * be 0 (none: 1 and 0).
 */
export function batchNormalize(
  x: usize,
  output: usize,
  mean: usize,
  variance: usize,
  scale: usize,
  offset: usize,
  factors: usize,
  rows: i32,
  channels: i32,
  epsilon: f64,
): void {
  const shifts = factors + ((<usize>channels) << 2);
  for (let c = 0; c < channels; c++) {
    const at = (<usize>c) << 2;
    const gamma: f64 = scale ? <f64>load<f32>(scale + at) : 1;
    store<f32>(factors + at, <f32>(gamma / Math.sqrt(<f64>load<f32>(variance + at) + epsilon)));
    store<f32>(shifts + at, offset ? load<f32>(offset + at) : 0);
  }
  const rowBytes = (<usize>channels) << 2;
  for (let r = 0; r < rows; r++) {
    const from = x + <usize>r * rowBytes;
    const to = output + <usize>r * rowBytes;
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const at = (<usize>c) << 2;
      const centred = f32x4.sub(v128.load(from + at), v128.load(mean + at));
      v128.store(to + at, f32x4.add(f32x4.mul(centred, v128.load(factors + at)), v128.load(shifts + at)));
    }
    for (; c < channels; c++) {
      const at = (<usize>c) << 2;
      store<f32>(to + at, (load<f32>(from + at) - load<f32>(mean + at)) * load<f32>(factors + at) + load<f32>(shifts + at));
    }
  }
}
