// Training-mode BatchNorm's backward pass on webgpu in four dispatches instead of ~20: with x̂ = (x − mean)/σ over all axes
// but the last (n values per channel), dβ = Σdy and dγ = Σdy·x̂ in one pass over dy and x (rows split across workgroups,
// as in channel-sum.ts), the splits added up (two dispatches), then dx = γ/σ·dy + (x̂·(−γ/σ·dγ/n) + (−γ/σ·dβ/n)) per element,
// with the per-channel factors recomputed by each thread. The operation order is the lean backward pass's
// (src/memory/lean-backward/rules/batch-normalization.ts), so the results differ from it by rounding only.

import * as tf from '@tensorflow/tfjs';
import { program, release, run, splitCount, splitRowsWgsl, sumSplits } from './program.ts';

const channelsPerWorkgroup = 64;
const lanes = 4;
const workgroupSize = 256;

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
  const partial = run(backend, reduce, [dy, x, mean, variance]);
  const dBetaInfo = sumSplits(backend, partial, splits, [channels]);
  const dGammaInfo = sumSplits(backend, partial, splits, [channels], 1, splits * channels);
  release(backend, partial);
  const dBeta = tf.engine().makeTensorFromTensorInfo(dBetaInfo) as tf.Tensor1D;
  const dGamma = tf.engine().makeTensorFromTensorInfo(dGammaInfo) as tf.Tensor1D;
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
