// Registers the gradient kernels that tfjs 4.22's wasm backend lacks, so convnets train on it.

import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.ts';
import { depthwiseBackpropFilterConfig } from './depthwise-backprop-filter.ts';
import { depthwiseBackpropInputConfig } from './depthwise-backprop-input.ts';

export const wasmTrainingKernels = [conv2dBackpropFilterConfig, depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig];

export function registerWasmTrainingKernels(): void {
  for (const config of wasmTrainingKernels) {
    if (!tf.getKernel(config.kernelName, 'wasm')) tf.registerKernel(config);
  }
}
