// Registers the gradient kernels that tfjs 4.22's wasm backend lacks (and faster ones where its own are slow), so convnets train on it.

import * as tf from '@tensorflow/tfjs';
import { batchNormBackwardConfig } from './batch-norm-backward.ts';
import { batchNormGradientConfig } from './batch-norm-gradient.ts';
import { batchNormalizeConfig } from './batch-normalize.ts';
import { channelMomentsConfig } from './channel-moments.ts';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.ts';
import { pointwiseBackpropInputConfig } from './conv2d-backprop-input.ts';
import { depthwiseBackpropFilterConfig } from './depthwise-backprop-filter.ts';
import { depthwiseBackpropInputConfig } from './depthwise-backprop-input.ts';
import { pointwiseConvolutionConfig } from './pointwise-convolution.ts';
import { middleAxisReductionConfig } from './reductions.ts';
import { sliceConfig } from './slice.ts';

export const wasmTrainingKernels = [
  conv2dBackpropFilterConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  // streamfit's own: BatchNorm's training statistics and backward pass in one call each (called by name, never by tfjs).
  channelMomentsConfig,
  batchNormBackwardConfig,
];
let registered = false;
/** tfjs-wasm's own kernels that a wrapper replaced, by name (bench/wasm-kernels.ts measures against them). */
export const replacedWasmKernels = new Map<string, tf.KernelConfig>();

export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of wasmTrainingKernels) {
    if (!tf.getKernel(config.kernelName, 'wasm')) tf.registerKernel(config);
  }
  replaceKernel('Conv2DBackpropInput', pointwiseBackpropInputConfig);
  replaceKernel('FusedConv2D', pointwiseConvolutionConfig);
  replaceKernel('Conv2D', pointwiseConvolutionConfig);
  replaceKernel('Sum', middleAxisReductionConfig);
  replaceKernel('Mean', middleAxisReductionConfig);
  replaceKernel('FusedBatchNorm', batchNormalizeConfig);
  replaceKernel('Slice', sliceConfig);
  // Gradients are shared by all backends; this one computes the same values as tfjs' own with less memory everywhere.
  tf.registerGradient(batchNormGradientConfig);
}

/** Registers a wrapper of tfjs-wasm's own kernel (which it falls back to for the cases it does not cover). */
function replaceKernel(name: string, wrap: (original: tf.KernelConfig) => tf.KernelConfig): void {
  const original = tf.getKernel(name, 'wasm');
  if (!original) return;
  replacedWasmKernels.set(name, original);
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel(wrap(original));
}

export { registerWebgpuTrainingKernels } from './webgpu/register-webgpu.ts';
