// BatchNorm's batch mean and variance per channel on webgpu in two dispatches, whatever the split: each workgroup runs
// Welford's update over its part of the rows, and one more pass merges the parts (Chan et al.'s pairwise formula) into
// both outputs. The two-pass way (the mean's split reduction, then (x − mean)²'s) took four dispatches a layer once its
// rows were split, which they are for every layer of B0 at 224 px, batch 32.
/// <reference types="@webgpu/types" />

import * as tf from '@tensorflow/tfjs';
import { ownData } from '../fused-update.ts';
import {
  bufferOf,
  computePipeline,
  dispatch,
  newOutput,
  releaseAfterSubmit,
  uniformBuffer,
  webgpuInternals,
  writtenInPlace,
} from './direct-dispatch.ts';
import { movingAverageStep } from './moving-statistics.ts';
import { program, run, splitCount, splitRowsWgsl } from './program.ts';

const channelsPerWorkgroup = 64;
const lanes = 4;

// Merges (count, mean, M2) b into a: the same formula for lanes, then splits.
const mergeFunction = `
  fn merge(a : vec3<f32>, b : vec3<f32>) -> vec3<f32> {
    let n = a.x + b.x;
    if (b.x == 0.0) { return a; }
    if (a.x == 0.0) { return b; }
    let delta = b.y - a.y;
    return vec3<f32>(n, a.y + delta * (b.x / n), a.z + b.z + delta * delta * (a.x * b.x / n));
  }`;

/** The merge over splits; with `moving`, it also moves BatchNorm's moving mean and variance, in place (one dispatch less). */
function mergeShader(moving: boolean): string {
  return `
  struct Uniforms { channels : u32, splits : u32, rows : u32, chunk : u32, complement : f32 }
  @group(0) @binding(0) var<storage, read_write> mean : array<f32>;
  @group(0) @binding(1) var<storage, read_write> variance : array<f32>;
  @group(0) @binding(2) var<storage, read> partial : array<f32>;
  @group(0) @binding(3) var<uniform> p : Uniforms;
  ${moving ? '@group(0) @binding(4) var<storage, read_write> movingMean : array<f32>;' : ''}
  ${moving ? '@group(0) @binding(5) var<storage, read_write> movingVariance : array<f32>;' : ''}
  ${mergeFunction}

  @compute @workgroup_size(64)
  fn main(@builtin(global_invocation_id) id : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>) {
    for (var c = id.x; c < p.channels; c += groups.x * 64u) {
      var total = vec3<f32>(0.0, 0.0, 0.0);
      for (var s = 0u; s < p.splits; s++) {
        let first = s * p.chunk;
        let count = f32(select(0u, min(p.chunk, p.rows - first), first < p.rows));
        let base = s * 2u * p.channels;
        total = merge(total, vec3<f32>(count, partial[base + c], partial[base + p.channels + c]));
      }
      let batchVariance = total.z / f32(p.rows);
      mean[c] = total.y;
      variance[c] = batchVariance;
      ${
        moving
          ? `${movingAverageStep('movingMean[c]', 'total.y')}
      ${movingAverageStep('movingVariance[c]', 'batchVariance')}`
          : ''
      }
    }
  }`;
}

const mergeOnlyShader = mergeShader(false);
const mergeMovingShader = mergeShader(true);

/** BatchNorm's moving averages and momentum, for the merge to update. */
export interface MovingStatistics {
  mean: tf.Variable;
  variance: tf.Variable;
  momentum: number;
}

/**
 * The mean and the (biased) variance over every axis but the last, as tf.moments gives them for BatchNorm; with `moving`,
 * the moving averages move towards them as tfjs-layers moves them, in the same dispatch.
 */
export function channelMomentsWebgpu(x: tf.Tensor, moving?: MovingStatistics): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const channels = x.shape[x.rank - 1];
  const rows = x.size / channels;
  const channelGroups = Math.ceil(channels / channelsPerWorkgroup);
  const splits = splitCount(rows, channelGroups, 2 * channels, 64);
  const chunk = Math.ceil(rows / splits);
  const backend = webgpuInternals();
  // Each split's count, mean and M2, merged over its lanes; the count is known from the split, so only two are kept.
  const built = program({
    key: 'channel_moments',
    outputShape: [splits, 2, channels],
    inputs: ['x'],
    uniforms: { rows, channels, chunk },
    workgroupSize: [channelsPerWorkgroup, lanes, 1],
    dispatch: [channelGroups, splits, 1],
    code: `
      var<workgroup> laneMoments: array<vec3<f32>, ${lanes * channelsPerWorkgroup}>;
      ${mergeFunction}

      fn main() {
        ${splitRowsWgsl(channelsPerWorkgroup)}
        var moments = vec3<f32>(0.0, 0.0, 0.0);
        if (channel < uniforms.channels) {
          for (var row = start + lane; row < end; row += ${lanes}) {
            let value = x[row * uniforms.channels + channel];
            moments.x += 1.0;
            let delta = value - moments.y;
            moments.y += delta / moments.x;
            moments.z += delta * (value - moments.y);
          }
        }
        laneMoments[lane * ${channelsPerWorkgroup} + local] = moments;
        workgroupBarrier();
        if (lane == 0 && channel < uniforms.channels) {
          var total = laneMoments[local];
          for (var l = 1; l < ${lanes}; l++) {
            total = merge(total, laneMoments[l * ${channelsPerWorkgroup} + local]);
          }
          result[split * 2 * uniforms.channels + channel] = total.y;
          result[(split * 2 + 1) * uniforms.channels + channel] = total.z;
        }
      }`,
  });
  const partialInfo = run(backend, built, [x]);
  const partial = tf.engine().makeTensorFromTensorInfo(partialInfo) as tf.Tensor;
  const [mean, variance] = [0, 1].map(() => newOutput(backend, [channels]) as tf.Tensor1D);
  const fields = new Uint32Array([channels, splits, rows, chunk, 0, 0, 0, 0]);
  new Float32Array(fields.buffer)[4] = 1 - (moving?.momentum ?? 0);
  const uniform = uniformBuffer(backend, fields);
  try {
    const bind = (tensor: tf.Tensor) => ({ buffer: bufferOf(backend, tensor), size: tensor.size * 4 });
    const written: tf.Tensor[] = [mean, variance];
    if (moving) {
      // Written in place: neither may share its data with another tensor (setWeights can leave them so).
      ownData(moving.mean);
      ownData(moving.variance);
      written.push(moving.mean, moving.variance);
    }
    const name = moving ? 'streamfit_channel_moments_merge_moving' : 'streamfit_channel_moments_merge';
    const pipeline = computePipeline(backend, name, moving ? mergeMovingShader : mergeOnlyShader);
    const workgroups = Math.max(1, Math.min(Math.ceil(channels / 64), 65535));
    const entries = [bind(mean), bind(variance), bind(partial), { buffer: uniform }, ...written.slice(2).map(bind)];
    dispatch(backend, 'Streamfit_channel_moments_merge', pipeline, entries, [workgroups, 1, 1], [...written, partial]);
    for (const tensor of written.slice(2)) writtenInPlace(backend, tensor);
  } catch (error) {
    tf.dispose([mean, variance]);
    throw error;
  } finally {
    releaseAfterSubmit(backend, [uniform]);
    partial.dispose();
  }
  return { mean, variance };
}
