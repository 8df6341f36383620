// Registers streamfit's WGSL training kernels on tfjs' webgpu backend, in place of tfjs' own where those are naive.

import * as tf from '@tensorflow/tfjs';
import { channelReductionConfigs } from './channel-sum.ts';
import { conv2dBackpropFilterWebgpuConfig } from './conv2d-backprop-filter.ts';
import { conv2dBackpropInputWebgpuConfig } from './conv2d-backprop-input.ts';
import { depthwiseBackpropFilterWebgpuConfig } from './depthwise-backprop-filter.ts';
import { depthwiseBackpropInputWebgpuConfig } from './depthwise-backprop-input.ts';

/** tfjs' own kernels that streamfit's replace, kept for the fallbacks and for comparisons. */
const tfjsKernels = new Map<string, tf.KernelConfig>();
let streamfitKernels: tf.KernelConfig[] = [];

export function registerWebgpuTrainingKernels(): void {
  if (streamfitKernels.length > 0) return;
  for (const name of [
    'Conv2DBackpropFilter',
    'Conv2DBackpropInput',
    'DepthwiseConv2dNativeBackpropFilter',
    'DepthwiseConv2dNativeBackpropInput',
    'Sum',
    'Mean',
  ]) {
    const original = tf.getKernel(name, 'webgpu');
    if (original) tfjsKernels.set(name, original);
  }
  streamfitKernels = [
    conv2dBackpropFilterWebgpuConfig,
    conv2dBackpropInputWebgpuConfig,
    depthwiseBackpropFilterWebgpuConfig,
    depthwiseBackpropInputWebgpuConfig,
    ...channelReductionConfigs(tfjsKernels),
  ];
  useTfjsWebgpuKernels(false);
}

/** Registers tfjs' own kernels (true) or streamfit's (false): for benchmarks and tests that compare the two in one run. */
export function useTfjsWebgpuKernels(useTfjs: boolean): void {
  for (const config of streamfitKernels) {
    const chosen = useTfjs ? tfjsKernels.get(config.kernelName) : config;
    if (!chosen) continue;
    if (tf.getKernel(config.kernelName, 'webgpu')) tf.unregisterKernel(config.kernelName, 'webgpu');
    tf.registerKernel(chosen);
  }
}

/** The kernel names streamfit replaces on webgpu. */
export function webgpuKernelNames(): string[] {
  return streamfitKernels.map((config) => config.kernelName);
}
