// BatchNorm's moving mean and variance updated on webgpu in one dispatch, in place: m ← m − (m − batch)·(1 − momentum) for
// both, in the float32 order of tfjs-layers' update (src/models/layers.ts updateMovingStatistics), instead of six dispatches
// and two scalar uploads per layer and step.
/// <reference types="@webgpu/types" />

import type * as tf from '@tensorflow/tfjs';
import { ownData } from '../fused-update.ts';
import {
  bufferOf,
  computePipeline,
  dispatch,
  releaseAfterSubmit,
  uniformBuffer,
  webgpuInternals,
  writtenInPlace,
} from './direct-dispatch.ts';

/** WGSL for m ← m − (m − batch)·complement, tfjs-layers' update in its float32 order; `p.complement` is 1 − momentum. */
export function movingAverageStep(moving: string, batch: string): string {
  return `${moving} = ${moving} - (${moving} - ${batch}) * p.complement;`;
}

const shader = `
  struct Uniforms { complement : f32 }
  @group(0) @binding(0) var<storage, read_write> movingMean : array<f32>;
  @group(0) @binding(1) var<storage, read_write> movingVariance : array<f32>;
  @group(0) @binding(2) var<storage, read> batchMean : array<f32>;
  @group(0) @binding(3) var<storage, read> batchVariance : array<f32>;
  @group(0) @binding(4) var<uniform> p : Uniforms;

  @compute @workgroup_size(64)
  fn main(@builtin(global_invocation_id) id : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>) {
    for (var i = id.x; i < arrayLength(&batchMean); i += groups.x * 64u) {
      ${movingAverageStep('movingMean[i]', 'batchMean[i]')}
      ${movingAverageStep('movingVariance[i]', 'batchVariance[i]')}
    }
  }`;

/** Moves `movingMean` and `movingVariance` towards the batch statistics with tfjs' `momentum`, in place. */
export function updateMovingStatisticsWebgpu(
  movingMean: tf.Variable,
  movingVariance: tf.Variable,
  mean: tf.Tensor,
  variance: tf.Tensor,
  momentum: number,
): void {
  const backend = webgpuInternals();
  // Written in place: neither may share its data with another tensor (setWeights can leave them so).
  ownData(movingMean);
  ownData(movingVariance);
  const pipeline = computePipeline(backend, 'streamfit_moving_statistics', shader);
  const uniform = uniformBuffer(backend, new Float32Array([1 - momentum, 0, 0, 0]));
  const bind = (tensor: tf.Tensor) => ({ buffer: bufferOf(backend, tensor), size: tensor.size * 4 });
  const workgroups = Math.max(1, Math.min(Math.ceil(mean.size / 64), 65535));
  try {
    const tensors = [movingMean, movingVariance, mean, variance];
    dispatch(backend, 'Streamfit_moving_statistics', pipeline, [...tensors.map(bind), { buffer: uniform }], [workgroups, 1, 1], tensors);
    writtenInPlace(backend, movingMean);
    writtenInPlace(backend, movingVariance);
  } finally {
    releaseAfterSubmit(backend, [uniform]);
  }
}
