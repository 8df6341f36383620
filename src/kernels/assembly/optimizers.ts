// One optimizer update over every variable of a model in a single call, with tfjs 4.22's formulas and float32 operation
// order (so results match tfjs' optimizers bit for bit). Slots are updated in place; new values go to `output`, a fresh
// tensor, because tfjs-wasm caches XNNPACK operators (with the weights packed) by tensor and must see a new one.
// The host writes a table with one entry per variable:
//   [value, gradient, slot 1, slot 2, output] (addresses), size (int32), factor (float32: AdamW's decoupled decay, else 1),
//   gradient scale (float32: the trainer's 1/samples for summed gradients, else 1), clear (int32: 1 zeroes the gradient in
//   place once read, as the trainer's accumulators need after an update).

const ENTRY: usize = 36;

function entryValue(table: usize, e: i32): usize {
  return <usize>load<u32>(table + <usize>e * ENTRY);
}
function entryGradient(table: usize, e: i32): usize {
  return <usize>load<u32>(table + <usize>e * ENTRY, 4);
}
function entrySlot1(table: usize, e: i32): usize {
  return <usize>load<u32>(table + <usize>e * ENTRY, 8);
}
function entrySlot2(table: usize, e: i32): usize {
  return <usize>load<u32>(table + <usize>e * ENTRY, 12);
}
function entryOutput(table: usize, e: i32): usize {
  return <usize>load<u32>(table + <usize>e * ENTRY, 16);
}
function entrySize(table: usize, e: i32): i32 {
  return load<i32>(table + <usize>e * ENTRY, 20);
}
function entryFactor(table: usize, e: i32): f32 {
  return load<f32>(table + <usize>e * ENTRY, 24);
}
function entryScale(table: usize, e: i32): f32 {
  return load<f32>(table + <usize>e * ENTRY, 28);
}
function entryClears(table: usize, e: i32): bool {
  return load<i32>(table + <usize>e * ENTRY, 32) !== 0;
}

/** Four gradient values times the scale (as tfjs' mul(sum, scale) rounds them), zeroed in place when the entry clears. */
function takeGradients(gradient: usize, offset: usize, scale: v128, clears: bool): v128 {
  const g = f32x4.mul(v128.load(gradient + offset), scale);
  if (clears) v128.store(gradient + offset, f32x4.splat(0));
  return g;
}

/** One gradient value, as takeGradients. */
function takeGradient(gradient: usize, offset: usize, scale: f32, clears: bool): f32 {
  const g = load<f32>(gradient + offset) * scale;
  if (clears) store<f32>(gradient + offset, 0);
  return g;
}

/**
 * Adam (slot 1 = m, slot 2 = v): m ← m·β1 + g·(1 − β1); v ← v·β2 + g²·(1 − β2);
 * value ← ((m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε) · (−lr) + value) · factor.
 * β1ᵗ and β2ᵗ are read from tfjs' own accumulated-beta scalars (`accBeta1`, `accBeta2`), so the host never reads the device.
 */
export function adamUpdate(
  table: usize,
  count: i32,
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  accBeta1: usize,
  accBeta2: usize,
  epsilon: f32,
  negativeRate: f32,
): void {
  const oneMinusAccBeta1: f32 = 1 - load<f32>(accBeta1);
  const oneMinusAccBeta2: f32 = 1 - load<f32>(accBeta2);
  const b1 = f32x4.splat(beta1);
  const c1 = f32x4.splat(oneMinusBeta1);
  const b2 = f32x4.splat(beta2);
  const c2 = f32x4.splat(oneMinusBeta2);
  const a1 = f32x4.splat(oneMinusAccBeta1);
  const a2 = f32x4.splat(oneMinusAccBeta2);
  const eps = f32x4.splat(epsilon);
  const rate = f32x4.splat(negativeRate);
  for (let e = 0; e < count; e++) {
    const value = entryValue(table, e);
    const output = entryOutput(table, e);
    const gradient = entryGradient(table, e);
    const first = entrySlot1(table, e);
    const second = entrySlot2(table, e);
    const size = entrySize(table, e);
    const scale = entryScale(table, e);
    const scales = f32x4.splat(scale);
    const clears = entryClears(table, e);
    const factor = entryFactor(table, e);
    const f = f32x4.splat(factor);
    let i = 0;
    for (; i + 4 <= size; i += 4) {
      const offset = (<usize>i) << 2;
      const g = takeGradients(gradient, offset, scales, clears);
      const m = f32x4.add(f32x4.mul(v128.load(first + offset), b1), f32x4.mul(g, c1));
      const v = f32x4.add(f32x4.mul(v128.load(second + offset), b2), f32x4.mul(f32x4.mul(g, g), c2));
      v128.store(first + offset, m);
      v128.store(second + offset, v);
      const step = f32x4.mul(f32x4.div(f32x4.div(m, a1), f32x4.add(f32x4.sqrt(f32x4.div(v, a2)), eps)), rate);
      v128.store(output + offset, f32x4.mul(f32x4.add(step, v128.load(value + offset)), f));
    }
    for (; i < size; i++) {
      const offset = (<usize>i) << 2;
      const g = takeGradient(gradient, offset, scale, clears);
      const m = load<f32>(first + offset) * beta1 + g * oneMinusBeta1;
      const v = load<f32>(second + offset) * beta2 + g * g * oneMinusBeta2;
      store<f32>(first + offset, m);
      store<f32>(second + offset, v);
      const step = (m / oneMinusAccBeta1 / (Mathf.sqrt(v / oneMinusAccBeta2) + epsilon)) * negativeRate;
      store<f32>(output + offset, (step + load<f32>(value + offset)) * factor);
    }
  }
}

/** Plain SGD: value ← (−lr)·g + value. */
export function sgdUpdate(table: usize, count: i32, negativeRate: f32): void {
  const rate = f32x4.splat(negativeRate);
  for (let e = 0; e < count; e++) {
    const value = entryValue(table, e);
    const output = entryOutput(table, e);
    const gradient = entryGradient(table, e);
    const size = entrySize(table, e);
    const scale = entryScale(table, e);
    const scales = f32x4.splat(scale);
    const clears = entryClears(table, e);
    let i = 0;
    for (; i + 4 <= size; i += 4) {
      const offset = (<usize>i) << 2;
      v128.store(output + offset, f32x4.add(f32x4.mul(rate, takeGradients(gradient, offset, scales, clears)), v128.load(value + offset)));
    }
    for (; i < size; i++) {
      const offset = (<usize>i) << 2;
      store<f32>(output + offset, negativeRate * takeGradient(gradient, offset, scale, clears) + load<f32>(value + offset));
    }
  }
}

/**
 * SGD with momentum (slot 1 = accumulation): a ← μ·a + g; value ← (−lr)·a + value, or with Nesterov
 * value ← (−lr)·(g + a·μ) + value.
 */
export function momentumUpdate(table: usize, count: i32, momentum: f32, negativeRate: f32, nesterov: bool): void {
  const mu = f32x4.splat(momentum);
  const rate = f32x4.splat(negativeRate);
  for (let e = 0; e < count; e++) {
    const value = entryValue(table, e);
    const output = entryOutput(table, e);
    const gradient = entryGradient(table, e);
    const accumulation = entrySlot1(table, e);
    const size = entrySize(table, e);
    const scale = entryScale(table, e);
    const scales = f32x4.splat(scale);
    const clears = entryClears(table, e);
    let i = 0;
    for (; i + 4 <= size; i += 4) {
      const offset = (<usize>i) << 2;
      const g = takeGradients(gradient, offset, scales, clears);
      const a = f32x4.add(f32x4.mul(mu, v128.load(accumulation + offset)), g);
      v128.store(accumulation + offset, a);
      const direction = nesterov ? f32x4.add(g, f32x4.mul(a, mu)) : a;
      v128.store(output + offset, f32x4.add(f32x4.mul(rate, direction), v128.load(value + offset)));
    }
    for (; i < size; i++) {
      const offset = (<usize>i) << 2;
      const g = takeGradient(gradient, offset, scale, clears);
      const a = momentum * load<f32>(accumulation + offset) + g;
      store<f32>(accumulation + offset, a);
      const direction = nesterov ? g + a * momentum : a;
      store<f32>(output + offset, negativeRate * direction + load<f32>(value + offset));
    }
  }
}

/**
 * RMSprop, not centred (slot 1 = mean square, slot 2 = momentum): s ← s·ρ + g²·(1 − ρ); p ← p·μ + (g·lr) / √(s + ε);
 * value ← value − p.
 */
export function rmspropUpdate(
  table: usize,
  count: i32,
  decay: f32,
  oneMinusDecay: f32,
  momentum: f32,
  learningRate: f32,
  epsilon: f32,
): void {
  const rho = f32x4.splat(decay);
  const complement = f32x4.splat(oneMinusDecay);
  const mu = f32x4.splat(momentum);
  const rate = f32x4.splat(learningRate);
  const eps = f32x4.splat(epsilon);
  for (let e = 0; e < count; e++) {
    const value = entryValue(table, e);
    const output = entryOutput(table, e);
    const gradient = entryGradient(table, e);
    const meanSquare = entrySlot1(table, e);
    const moment = entrySlot2(table, e);
    const size = entrySize(table, e);
    const scale = entryScale(table, e);
    const scales = f32x4.splat(scale);
    const clears = entryClears(table, e);
    let i = 0;
    for (; i + 4 <= size; i += 4) {
      const offset = (<usize>i) << 2;
      const g = takeGradients(gradient, offset, scales, clears);
      const s = f32x4.add(f32x4.mul(v128.load(meanSquare + offset), rho), f32x4.mul(f32x4.mul(g, g), complement));
      const p = f32x4.add(f32x4.mul(v128.load(moment + offset), mu), f32x4.div(f32x4.mul(g, rate), f32x4.sqrt(f32x4.add(s, eps))));
      v128.store(meanSquare + offset, s);
      v128.store(moment + offset, p);
      v128.store(output + offset, f32x4.sub(v128.load(value + offset), p));
    }
    for (; i < size; i++) {
      const offset = (<usize>i) << 2;
      const g = takeGradient(gradient, offset, scale, clears);
      const s = load<f32>(meanSquare + offset) * decay + g * g * oneMinusDecay;
      const p = load<f32>(moment + offset) * momentum + (g * learningRate) / Mathf.sqrt(s + epsilon);
      store<f32>(meanSquare + offset, s);
      store<f32>(moment + offset, p);
      store<f32>(output + offset, load<f32>(value + offset) - p);
    }
  }
}
