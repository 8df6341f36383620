// One WGSL pass over the elements of a tensor for a chain of tfjs ops (swish and its derivative, BatchNorm's per-channel
// affine map): on a GPU a training step is bound by the host's cost per dispatch, so a chain of five elementwise ops costs
// about five times what one pass costs. Full-size inputs are indexed by i, per-channel ones (the last axis) by c.

import * as tf from '@tensorflow/tfjs';
import { program, run } from './program.ts';

const workgroupSize = 256;

/**
 * A float32 tensor of `shape` whose element i the WGSL `body` writes to result[i], reading the `inputs` by name (each an
 * array of its dtype's type), `i`, and `c`, the channel (index along the last axis). `floats` become f32 uniforms.
 * Disposes nothing.
 */
export function elementwise(key: string, shape: number[], inputs: Record<string, tf.Tensor>, body: string, floats = {}): tf.Tensor {
  const elements = tf.util.sizeFromShape(shape);
  const built = program({
    key,
    outputShape: shape,
    inputs: Object.keys(inputs),
    uniforms: { elements, channels: shape.at(-1) ?? 1 },
    floatUniforms: floats,
    workgroupSize: [workgroupSize, 1, 1],
    dispatch: [Math.max(1, Math.min(Math.ceil(elements / workgroupSize), 65535)), 1, 1],
    code: `
      fn main() {
        let stride = i32(numWorkgroups.x) * ${workgroupSize};
        for (var i = i32(workgroupId.x) * ${workgroupSize} + i32(localIndex); i < uniforms.elements; i += stride) {
          let c = i % uniforms.channels;
          ${body}
        }
      }`,
  });
  return tf.engine().makeTensorFromTensorInfo(run(tf.backend(), built, Object.values(inputs))) as tf.Tensor;
}

/** True where these fusions apply: the webgpu backend and float32 tensors. */
export function fusesOnWebgpu(...tensors: tf.Tensor[]): boolean {
  return tf.getBackend() === 'webgpu' && tensors.every((tensor) => tensor.dtype === 'float32');
}

/** swish(x) = x·σ(x), σ as tfjs' webgpu shader computes it. */
export function swishWebgpu(x: tf.Tensor): tf.Tensor {
  return elementwise('swish', x.shape, { xValues: x }, 'let v = xValues[i]; result[i] = v * (1.0 / (1.0 + exp(-v)));');
}

/** dy · σ(x)·(1 + x·(1 − σ(x))), in the lean backward pass's operation order. */
export function swishGradientWebgpu(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  return elementwise(
    'swish_gradient',
    x.shape,
    { dyValues: dy, xValues: x },
    'let v = xValues[i]; let s = 1.0 / (1.0 + exp(-v)); result[i] = (dyValues[i] * s) * ((1.0 - s) * v + 1.0);',
  );
}

/** x / divisor, the divisor a uniform: tf.div(x, number) uploads the number as a tensor on every call. */
export function divideWebgpu(x: tf.Tensor, divisor: number): tf.Tensor {
  return elementwise('divide', x.shape, { xValues: x }, 'result[i] = xValues[i] / uniforms.divisor;', { divisor });
}

/** dy · y·(1 − y), sigmoid's derivative from its output y, in the lean backward pass's operation order. */
export function sigmoidGradientWebgpu(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return elementwise(
    'sigmoid_gradient',
    y.shape,
    { dyValues: dy, yValues: y },
    'let v = yValues[i]; result[i] = (dyValues[i] * v) * (1.0 - v);',
  );
}

/**
 * relu(x), clipped to at most `maxValue` when one is given (MobileNet's ReLU6), in one pass where tfjs-layers' ReLU runs
 * relu, then clipByValue. NaN passes through, as on the cpu backend.
 */
export function reluWebgpu(x: tf.Tensor, maxValue: number | null): tf.Tensor {
  // isnan is tfjs' bitwise test: a comparison with NaN is not reliably false on every adapter (llvmpipe's GL).
  const clipped = maxValue == null ? 'select(v, 0.0, v < 0.0)' : 'clamp(v, 0.0, uniforms.maxValue)';
  const floats = maxValue == null ? {} : { maxValue };
  return elementwise(
    maxValue == null ? 'relu' : 'relu_clipped',
    x.shape,
    { xValues: x },
    `let v = xValues[i]; result[i] = select(${clipped}, v, isnan(v));`,
    floats,
  );
}

/** dy where 0 < x (and x ≤ `maxValue` when given), else 0, as the lean ReLU rule differentiates; NaN in x gives NaN. */
export function reluGradientWebgpu(dy: tf.Tensor, x: tf.Tensor, maxValue: number | null): tf.Tensor {
  return elementwise(
    maxValue == null ? 'relu_gradient' : 'relu_clipped_gradient',
    x.shape,
    { dyValues: dy, xValues: x },
    `let v = xValues[i];
      let passes = v > 0.0 && ${maxValue == null ? 'true' : 'v <= uniforms.maxValue'};
      result[i] = select(select(0.0, dyValues[i], passes), v, isnan(v));`,
    maxValue == null ? {} : { maxValue },
  );
}

/** BatchNorm's output as a per-channel affine map of its input, its tensors named as the kernels below read them. */
export interface BatchNormMap {
  x: tf.Tensor;
  mean: tf.Tensor;
  variance: tf.Tensor;
  gamma: tf.Tensor;
  beta: tf.Tensor;
  epsilon: number;
}

/** z, BatchNorm's output at element i: x·s + (β − mean·s) with s = γ/√(variance + ε). */
const batchNormOutput = `let scale = gammaValues[c] * inverseSqrt(varianceValues[c] + uniforms.epsilon);
          let z = xValues[i] * scale + (betaValues[c] - meanValues[c] * scale);`;

function batchNormInputs({ x, mean, variance, gamma, beta }: BatchNormMap): Record<string, tf.Tensor> {
  return { xValues: x, meanValues: mean, varianceValues: variance, gammaValues: gamma, betaValues: beta };
}

/** BatchNorm's output rebuilt in one pass, as the lean backward pass rebuilds a layer's output. */
export function batchNormAffineWebgpu(map: BatchNormMap): tf.Tensor {
  return elementwise('batch_norm_affine', map.x.shape, batchNormInputs(map), `${batchNormOutput} result[i] = z;`, {
    epsilon: map.epsilon,
  });
}

/** swish(BatchNorm's output), rebuilt in one pass without BatchNorm's output ever in memory (swishWebgpu's σ). */
export function batchNormSwishWebgpu(map: BatchNormMap): tf.Tensor {
  return elementwise('batch_norm_swish', map.x.shape, batchNormInputs(map), `${batchNormOutput} result[i] = z * (1.0 / (1.0 + exp(-z)));`, {
    epsilon: map.epsilon,
  });
}

/** swish's gradient at BatchNorm's output, computed from BatchNorm's input (swishGradientWebgpu's operation order). */
export function batchNormSwishGradientWebgpu(dy: tf.Tensor, map: BatchNormMap): tf.Tensor {
  return elementwise(
    'batch_norm_swish_gradient',
    map.x.shape,
    { dyValues: dy, ...batchNormInputs(map) },
    `${batchNormOutput} let s = 1.0 / (1.0 + exp(-z)); result[i] = (dyValues[i] * s) * ((1.0 - s) * z + 1.0);`,
    { epsilon: map.epsilon },
  );
}
