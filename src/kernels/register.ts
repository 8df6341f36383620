// Registers the gradient kernels that tfjs 4.22's wasm backend lacks (and faster ones where its own are slow), so convnets train on it.

import * as tf from '@tensorflow/tfjs';
import { batchNormGradientConfig } from './batch-norm-gradient.ts';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.ts';
import { pointwiseBackpropInputConfig } from './conv2d-backprop-input.ts';
import { depthwiseBackpropFilterConfig } from './depthwise-backprop-filter.ts';
import { depthwiseBackpropInputConfig } from './depthwise-backprop-input.ts';

export const wasmTrainingKernels = [conv2dBackpropFilterConfig, depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig];
let registered = false;

export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of wasmTrainingKernels) {
    if (!tf.getKernel(config.kernelName, 'wasm')) tf.registerKernel(config);
  }
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (original) {
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel(pointwiseBackpropInputConfig(original));
  }
  // Gradients are shared by all backends; this one computes the same values as tfjs' own with less memory everywhere.
  tf.registerGradient(batchNormGradientConfig);
}

export { registerWebgpuTrainingKernels } from './webgpu/register-webgpu.ts';
