// The optimizer update on webgpu: WGSL that reads each gradient and writes its variable and slots in place, as many
// variables a dispatch as the storage bindings hold, with tfjs 4.22's formulas in its float32 operation order (the wasm
// kernel's, src/kernels/assembly/optimizers.ts), instead of tfjs' 10–14 kernels and 4–6 uploaded scalars per variable.
// In place is safe here, unlike on wasm: tfjs' webgpu backend keeps no state derived from a tensor's data (no packed
// weights), the queue runs dispatches in order, and a variable that shares its buffer with another tensor gets a copy
// first (src/kernels/fused-update.ts).
/// <reference types="@webgpu/types" />

import type * as tf from '@tensorflow/tfjs';
import {
  bufferOf,
  computePipeline,
  dispatch,
  releaseAfterSubmit,
  uniformBuffer,
  type WebgpuBackendInternals,
  webgpuInternals,
  writtenInPlace,
} from './direct-dispatch.ts';

export type UpdateKind = 'adam' | 'momentum' | 'sgd' | 'rmsprop';

/** The scalars of one update (tfjs' optimizer fields), as the kernels take them. */
export interface UpdateScalars {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  momentum: number;
  useNesterov: boolean;
  decay: number;
}

export interface VariableUpdate {
  value: tf.Variable;
  /** Written (zeroed) too when the update clears gradients. */
  gradient: tf.Tensor;
  /** The kind's slots, in the wasm kernel's order (Adam: m, v; momentum: accumulation; RMSprop: mean square, moment). */
  slots: tf.Variable[];
  /** AdamW's decoupled decay factor for this variable (1: none). */
  factor: number;
}

const workgroupSize = 256;

/** Per element i of the variable: the kind's update, with `p` its uniforms (`p.factor`: the variable's own). */
const updateBodies: Record<UpdateKind, { slots: string[]; uniforms: string[]; body: string }> = {
  adam: {
    slots: ['first', 'second'],
    uniforms: ['beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'epsilon', 'negativeRate'],
    // β1ᵗ and β2ᵗ come from tfjs' own accumulated-beta variables, read on the device as tfjs' `sub(1, accBeta)` would.
    body: `
      let g = gradient[i];
      let m = first[i] * p.beta1 + g * p.oneMinusBeta1;
      let v = second[i] * p.beta2 + g * g * p.oneMinusBeta2;
      first[i] = m;
      second[i] = v;
      let step = (m / (1.0 - accBeta1[0]) / (sqrt(v / (1.0 - accBeta2[0])) + p.epsilon)) * p.negativeRate;
      value[i] = (step + value[i]) * p.factor;`,
  },
  sgd: {
    slots: [],
    uniforms: ['negativeRate'],
    body: `
      value[i] = p.negativeRate * gradient[i] + value[i];`,
  },
  momentum: {
    slots: ['accumulation'],
    uniforms: ['momentum', 'negativeRate', 'nesterov'],
    body: `
      let g = gradient[i];
      let a = p.momentum * accumulation[i] + g;
      accumulation[i] = a;
      var direction = a;
      if (p.nesterov != 0.0) {
        direction = g + a * p.momentum;
      }
      value[i] = p.negativeRate * direction + value[i];`,
  },
  rmsprop: {
    slots: ['meanSquare', 'moment'],
    uniforms: ['decay', 'oneMinusDecay', 'momentum', 'learningRate', 'epsilon'],
    body: `
      let g = gradient[i];
      let s = meanSquare[i] * p.decay + g * g * p.oneMinusDecay;
      let q = moment[i] * p.momentum + (g * p.learningRate) / sqrt(s + p.epsilon);
      meanSquare[i] = s;
      moment[i] = q;
      value[i] = value[i] - q;`,
  },
};

/** The storage buffers all of a dispatch's variables share: Adam's accumulated betas. */
const sharedStorage = (kind: UpdateKind) => (kind === 'adam' ? ['accBeta1', 'accBeta2'] : []);

/**
 * Variables one dispatch updates: as many as the device's storage bindings hold (each takes its value, gradient and
 * slots), at most 8. On a fast GPU the step is bound by the host's cost per dispatch, and B0 has 213 variables.
 */
export function variablesPerDispatch(kind: UpdateKind, maxStorageBuffers: number): number {
  const perVariable = 2 + updateBodies[kind].slots.length;
  return Math.max(1, Math.min(8, Math.floor((maxStorageBuffers - sharedStorage(kind).length) / perVariable)));
}

/** The update shaders' texts by pipeline name, built once. */
const shaders = new Map<string, string>();

/** The update of `count` variables in one shader: variable j's buffers are value{j}, gradient{j} and its slots{j}. */
function updateShader(kind: UpdateKind, clearGradients: boolean, count: number): string {
  const { slots, uniforms, body } = updateBodies[kind];
  const own = ['value', 'gradient', ...slots];
  const written = new Set(['value', ...slots, ...(clearGradients ? ['gradient'] : [])]);
  const variables = Array.from({ length: count }, (_, j) => j);
  const bindings = [
    ...variables.flatMap((j) => own.map((name) => ({ name: `${name}${j}`, access: written.has(name) ? 'read_write' : 'read' }))),
    ...sharedStorage(kind).map((name) => ({ name, access: 'read' })),
  ];
  const factors = kind === 'adam' ? variables.map((j) => `factor${j} : f32,`) : [];
  const loops = variables.map((j) => {
    // The gradient is read once, scaled (a sum of micro-batch gradients times 1/samples, rounded as tfjs' mul), and zeroed
    // after when the caller accumulates into it.
    let text = body.replace(/\bgradient\[i\]/g, `(gradient${j}[i] * p.gradientScale)`).replace(/\bp\.factor\b/g, `p.factor${j}`);
    for (const name of ['value', ...slots]) text = text.replace(new RegExp(`\\b${name}\\[`, 'g'), `${name}${j}[`);
    return `
      for (var i = id.x; i < arrayLength(&gradient${j}); i += stride) {${text}${clearGradients ? `\n        gradient${j}[i] = 0.0;` : ''}
      }`;
  });
  return `
    struct Uniforms { gradientScale : f32, ${uniforms.map((name) => `${name} : f32,`).join(' ')} ${factors.join(' ')} }
    ${bindings.map(({ name, access }, i) => `@group(0) @binding(${i}) var<storage, ${access}> ${name} : array<f32>;`).join('\n    ')}
    @group(0) @binding(${bindings.length}) var<uniform> p : Uniforms;

    @compute @workgroup_size(${workgroupSize})
    fn main(@builtin(global_invocation_id) id : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>) {
      let stride = groups.x * ${workgroupSize}u;${loops.join('')}
    }`;
}

/** Adam's accumulated betas after the step: β1ᵗ ← β1ᵗ·β1, β2ᵗ ← β2ᵗ·β2, in float32 as tfjs' `mul`. */
const accumulatedBetasShader = `
  struct Uniforms { gradientScale : f32, beta1 : f32, oneMinusBeta1 : f32, beta2 : f32 }
  @group(0) @binding(0) var<storage, read_write> accBeta1 : array<f32>;
  @group(0) @binding(1) var<storage, read_write> accBeta2 : array<f32>;
  @group(0) @binding(2) var<uniform> p : Uniforms;

  @compute @workgroup_size(1)
  fn main() {
    accBeta1[0] = accBeta1[0] * p.beta1;
    accBeta2[0] = accBeta2[0] * p.beta2;
  }`;

function uniformValues(kind: UpdateKind, scalars: UpdateScalars, factors: number[], gradientScale: number): Float32Array {
  const { learningRate, beta1, beta2, epsilon, momentum, useNesterov, decay } = scalars;
  const values: Record<UpdateKind, number[]> = {
    adam: [beta1, 1 - beta1, beta2, 1 - beta2, epsilon, -learningRate, ...factors],
    sgd: [-learningRate],
    momentum: [momentum, -learningRate, useNesterov ? 1 : 0],
    rmsprop: [decay, 1 - decay, momentum, learningRate, epsilon],
  };
  // A uniform struct's size is a multiple of 16 bytes.
  const padded = new Float32Array(Math.ceil((values[kind].length + 1) / 4) * 4);
  padded.set([gradientScale, ...values[kind]]);
  return padded;
}

export interface GradientHandling {
  /** Each gradient is multiplied by it first (default 1). */
  gradientScale?: number;
  /** Zero the gradients after reading them (they are the caller's accumulators). */
  clearGradients?: boolean;
}

/**
 * Records the update of every variable (a few to a dispatch, as the device's bindings allow) and, for Adam, of the
 * accumulated betas (one more) into tfjs' command stream. The variables, slots and betas (and the gradients, when
 * cleared) must not share their data with other tensors.
 */
export function fusedUpdateWebgpu(
  kind: UpdateKind,
  scalars: UpdateScalars,
  updates: VariableUpdate[],
  accumulatedBetas?: [tf.Variable, tf.Variable],
  { gradientScale = 1, clearGradients = false }: GradientHandling = {},
): void {
  const backend = webgpuInternals();
  const uniforms = new Map<string, GPUBuffer>();
  // One uniform buffer per distinct list of AdamW's per-variable factors (the other kinds have none).
  const uniformFor = (factors: number[]) => {
    const own = kind === 'adam' ? factors : [];
    const key = own.join(',');
    let buffer = uniforms.get(key);
    if (!buffer) {
      buffer = uniformBuffer(backend, uniformValues(kind, scalars, own, gradientScale));
      uniforms.set(key, buffer);
    }
    return buffer;
  };
  const bind = (tensor: tf.Tensor) => ({ buffer: bufferOf(backend, tensor), size: tensor.size * 4 });
  const betas = kind === 'adam' ? accumulatedBetas : undefined;
  if (kind === 'adam' && !betas) throw new Error('the Adam update needs the accumulated betas');
  // Variables of like sizes together: a dispatch's workgroups cover its largest.
  const bySize = [...updates].sort((a, b) => b.value.size - a.value.size);
  const perDispatch = variablesPerDispatch(kind, backend.device.limits.maxStorageBuffersPerShaderStage);
  try {
    for (let start = 0; start < bySize.length; start += perDispatch) {
      const chunk = bySize.slice(start, start + perDispatch);
      const name = `streamfit_${kind}_update_${clearGradients}_${chunk.length}`;
      if (!shaders.has(name)) shaders.set(name, updateShader(kind, clearGradients, chunk.length));
      const pipeline = computePipeline(backend, name, shaders.get(name)!);
      const written = chunk.flatMap(({ value, gradient, slots }) => [value, ...slots, ...(clearGradients ? [gradient] : [])]);
      const read = [...(clearGradients ? [] : chunk.map(({ gradient }) => gradient)), ...(betas ?? [])];
      const entries: GPUBufferBinding[] = chunk.flatMap(({ value, gradient, slots }) => [value, gradient, ...slots].map(bind));
      entries.push(...(betas ?? []).map(bind), { buffer: uniformFor(chunk.map(({ factor }) => factor)) });
      const workgroups = Math.max(1, Math.min(Math.ceil(chunk[0].value.size / workgroupSize), 65535));
      dispatch(backend, `Streamfit_${kind}_update`, pipeline, entries, [workgroups, 1, 1], [...written, ...read]);
      for (const tensor of written) writtenInPlace(backend, tensor);
    }
    if (betas) updateAccumulatedBetas(backend, betas, uniformFor([]));
  } finally {
    releaseAfterSubmit(backend, [...uniforms.values()]);
  }
}

function updateAccumulatedBetas(backend: WebgpuBackendInternals, betas: [tf.Variable, tf.Variable], uniform: GPUBuffer): void {
  const pipeline = computePipeline(backend, 'streamfit_accumulated_betas', accumulatedBetasShader);
  // The Adam uniforms, whose first four fields are the gradient scale, β1, 1 − β1 and β2.
  const entries = [...betas.map((beta) => ({ buffer: bufferOf(backend, beta), size: 4 })), { buffer: uniform }];
  dispatch(backend, 'Streamfit_accumulated_betas', pipeline, entries, [1, 1, 1], betas);
  for (const beta of betas) writtenInPlace(backend, beta);
}
