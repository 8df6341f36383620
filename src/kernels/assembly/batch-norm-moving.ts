// BatchNorm's moving mean and variance moved towards a batch's statistics in place, both in one call:
// value − (value − batch)·(1 − momentum) in float32, in the order of tfjs-layers' ops (src/models/layers.ts), so the result
// is theirs bit for bit.

/** `complement` is 1 − momentum (rounded to float32 by the call, as tfjs rounds its scalar). */
export function updateMovingStatistics(
  movingMean: usize,
  movingVariance: usize,
  mean: usize,
  variance: usize,
  channels: i32,
  complement: f32,
): void {
  moveTowards(movingMean, mean, channels, complement);
  moveTowards(movingVariance, variance, channels, complement);
}

function moveTowards(value: usize, batch: usize, channels: i32, complement: f32): void {
  const factor = f32x4.splat(complement);
  let c = 0;
  for (; c + 4 <= channels; c += 4) {
    const at = (<usize>c) << 2;
    const current = v128.load(value + at);
    v128.store(value + at, f32x4.sub(current, f32x4.mul(f32x4.sub(current, v128.load(batch + at)), factor)));
  }
  for (; c < channels; c++) {
    const at = (<usize>c) << 2;
    const current = load<f32>(value + at);
    store<f32>(value + at, current - (current - load<f32>(batch + at)) * complement);
  }
}
