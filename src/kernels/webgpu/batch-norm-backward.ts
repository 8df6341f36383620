// Training-mode BatchNorm's backward pass on webgpu in three dispatches instead of ~20: with x̂ = (x − mean)/σ over all
// axes but the last (n values per channel), dβ = Σdy and dγ = Σdy·x̂ in one pass over dy and x (rows split across
// workgroups, as in channel-sum.ts), the splits of both added up in one dispatch with two outputs, then
// dx = γ/σ·dy + (x̂·(−γ/σ·dγ/n) + (−γ/σ·dβ/n)) per element, with the per-channel factors recomputed by each thread. The
// operation order is the lean backward pass's (src/memory/lean-backward/rules/batch-normalization.ts), so the results
// differ from it by rounding only.
/// <reference types="@webgpu/types" />

import * as tf from '@tensorflow/tfjs';
import { bufferOf, computePipeline, dispatch, newOutput, releaseAfterSubmit, uniformBuffer, webgpuInternals } from './direct-dispatch.ts';
import { program, run, splitCount, splitRowsWgsl } from './program.ts';

const channelsPerWorkgroup = 64;
const lanes = 4;
const workgroupSize = 256;

// dβ and dγ from their splits' partial sums (dβ's splits, then dγ's), added in the fixed order sumSplits uses.
const sumBothShader = `
  struct Uniforms { channels : u32, splits : u32 }
  @group(0) @binding(0) var<storage, read_write> dBeta : array<f32>;
  @group(0) @binding(1) var<storage, read_write> dGamma : array<f32>;
  @group(0) @binding(2) var<storage, read> partial : array<f32>;
  @group(0) @binding(3) var<uniform> p : Uniforms;

  @compute @workgroup_size(64)
  fn main(@builtin(global_invocation_id) id : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>) {
    for (var c = id.x; c < p.channels; c += groups.x * 64u) {
      var beta = 0.0;
      var gamma = 0.0;
      for (var s = 0u; s < p.splits; s++) {
        beta += partial[s * p.channels + c];
        gamma += partial[(p.splits + s) * p.channels + c];
      }
      dBeta[c] = beta;
      dGamma[c] = gamma;
    }
  }`;

/** Adds up the splits of dβ and dγ in one dispatch. Disposes `partial`. */
function sumBoth(partial: tf.Tensor, splits: number, channels: number): { dBeta: tf.Tensor1D; dGamma: tf.Tensor1D } {
  const backend = webgpuInternals();
  const outputs: tf.Tensor1D[] = [];
  const uniforms: GPUBuffer[] = [];
  try {
    for (let i = 0; i < 2; i++) outputs.push(newOutput(backend, [channels]) as tf.Tensor1D);
    const [dBeta, dGamma] = outputs;
    uniforms.push(uniformBuffer(backend, new Uint32Array([channels, splits, 0, 0])));
    const bind = (tensor: tf.Tensor) => ({ buffer: bufferOf(backend, tensor), size: tensor.size * 4 });
    const pipeline = computePipeline(backend, 'streamfit_batch_norm_sums', sumBothShader);
    const workgroups = Math.max(1, Math.min(Math.ceil(channels / 64), 65535));
    const entries = [bind(dBeta), bind(dGamma), bind(partial), { buffer: uniforms[0] }];
    dispatch(backend, 'Streamfit_batch_norm_sums', pipeline, entries, [workgroups, 1, 1], [dBeta, dGamma, partial]);
    return { dBeta, dGamma };
  } catch (error) {
    tf.dispose(outputs);
    throw error;
  } finally {
    releaseAfterSubmit(backend, uniforms);
    partial.dispose();
  }
}

export interface BatchNormGradients {
  /** Undefined unless asked for. */
  dx?: tf.Tensor;
  dGamma: tf.Tensor1D;
  dBeta: tf.Tensor1D;
}

/**
 * The gradients of y = γ·x̂ + β for `dy`, from the layer input `x` and the batch `mean` and `variance` of the forward pass.
 * Disposes nothing it is given.
 */
export function batchNormBackwardWebgpu(
  dy: tf.Tensor,
  x: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  gamma: tf.Tensor,
  epsilon: number,
  withInputGradient: boolean,
): BatchNormGradients {
  const backend = tf.backend();
  const channels = x.shape[x.rank - 1];
  const rows = x.size / channels;
  const channelGroups = Math.ceil(channels / channelsPerWorkgroup);
  const splits = splitCount(rows, channelGroups, 2 * channels, 64);
  const chunk = Math.ceil(rows / splits);
  const reduce = program({
    key: 'batch_norm_gradient_sums',
    outputShape: [2 * splits * channels],
    inputs: ['dyValues', 'xValues', 'batchMean', 'batchVariance'],
    uniforms: { rows, channels, chunk, splits },
    floatUniforms: { epsilon },
    workgroupSize: [channelsPerWorkgroup, lanes, 1],
    dispatch: [channelGroups, splits, 1],
    code: `
      var<workgroup> laneSums: array<vec2<f32>, ${lanes * channelsPerWorkgroup}>;

      fn main() {
        ${splitRowsWgsl(channelsPerWorkgroup)}
        var sums = vec2<f32>(0.0, 0.0);
        if (channel < uniforms.channels) {
          let inverse = inverseSqrt(batchVariance[channel] + uniforms.epsilon);
          let shift = -(batchMean[channel] * inverse);
          for (var row = start + lane; row < end; row += ${lanes}) {
            let index = row * uniforms.channels + channel;
            let gradient = dyValues[index];
            sums += vec2<f32>(gradient, gradient * (xValues[index] * inverse + shift));
          }
        }
        laneSums[lane * ${channelsPerWorkgroup} + local] = sums;
        workgroupBarrier();
        if (lane == 0 && channel < uniforms.channels) {
          var total = vec2<f32>(0.0, 0.0);
          for (var l = 0; l < ${lanes}; l++) {
            total += laneSums[l * ${channelsPerWorkgroup} + local];
          }
          result[split * uniforms.channels + channel] = total.x;
          result[(uniforms.splits + split) * uniforms.channels + channel] = total.y;
        }
      }`,
  });
  const partial = tf.engine().makeTensorFromTensorInfo(run(backend, reduce, [dy, x, mean, variance]));
  const { dBeta, dGamma } = sumBoth(partial, splits, channels);
  if (!withInputGradient) return { dGamma, dBeta };
  const elements = x.size;
  const apply = program({
    key: 'batch_norm_input_gradient',
    outputShape: x.shape,
    inputs: ['dyValues', 'xValues', 'batchMean', 'batchVariance', 'gammaValues', 'dBetaValues', 'dGammaValues'],
    uniforms: { elements, channels },
    floatUniforms: { epsilon, count: rows },
    workgroupSize: [workgroupSize, 1, 1],
    dispatch: [Math.min(Math.ceil(elements / workgroupSize), 65535), 1, 1],
    code: `
      fn main() {
        let stride = i32(numWorkgroups.x) * ${workgroupSize};
        for (var i = i32(workgroupId.x) * ${workgroupSize} + i32(localIndex); i < uniforms.elements; i += stride) {
          let c = i % uniforms.channels;
          let inverse = inverseSqrt(batchVariance[c] + uniforms.epsilon);
          let normalized = xValues[i] * inverse + -(batchMean[c] * inverse);
          let scale = gammaValues[c] * inverse;
          let normalizedScale = -(scale * (dGammaValues[c] / uniforms.count));
          let offset = -(scale * (dBetaValues[c] / uniforms.count));
          result[i] = dyValues[i] * scale + (normalized * normalizedScale + offset);
        }
      }`,
  });
  const dx = tf.engine().makeTensorFromTensorInfo(run(backend, apply, [dy, x, mean, variance, gamma, dBeta, dGamma]));
  return { dx, dGamma, dBeta };
}
