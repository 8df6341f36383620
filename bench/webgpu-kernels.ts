// Benchmark: each WGSL training kernel streamfit registers on webgpu against tfjs' own, on the shapes of an EfficientNet-B0
// step (224 px, batch 32 unless smaller is asked for), timed on the device in the same run.

import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { watchedDevice } from '../src/backend/webgpu-health.ts';
import { flushCommands } from '../src/backend/webgpu-memory.ts';
import { useTfjsWebgpuKernels } from '../src/kernels/webgpu/register-webgpu.ts';

export interface KernelBenchOptions {
  imageSize: number;
  batch: number;
  repeats: number;
}

interface KernelCase {
  label: string;
  kernel: string;
  inputs: Record<string, number[]>;
  attrs: Record<string, unknown>;
}

/** B0's layers at `size` px: the 1×1 project and expand convolutions, the stem, the depthwise layers, BatchNorm's sums. */
function cases(size: number, batch: number): KernelCase[] {
  const half = size / 2;
  const sixteenth = Math.max(1, Math.round(size / 16));
  const conv = (filter: number[], stride: number) => ({ strides: stride, pad: 'same', dataFormat: 'NHWC', filterShape: filter });
  const out = (x: number[], channels: number, stride: number) => [x[0], Math.ceil(x[1] / stride), Math.ceil(x[2] / stride), channels];
  const list: KernelCase[] = [];
  const filterGradient = (label: string, x: number[], filter: number[], stride: number) =>
    list.push({ label, kernel: 'Conv2DBackpropFilter', inputs: { x, dy: out(x, filter[3], stride) }, attrs: conv(filter, stride) });
  const inputGradient = (label: string, x: number[], filter: number[], stride: number) =>
    list.push({
      label,
      kernel: 'Conv2DBackpropInput',
      inputs: { dy: out(x, filter[3], stride), filter },
      attrs: { ...conv(filter, stride), inputShape: x },
    });
  const depthwise = (label: string, x: number[], k: number, stride: number) => {
    const attrs = { strides: stride, pad: 'same', dilations: 1 };
    const dy = out(x, x[3], stride);
    list.push({
      label: `${label} filter`,
      kernel: 'DepthwiseConv2dNativeBackpropFilter',
      inputs: { x, dy },
      attrs: { ...attrs, filterShape: [k, k, x[3], 1] },
    });
    list.push({
      label: `${label} input`,
      kernel: 'DepthwiseConv2dNativeBackpropInput',
      inputs: { dy, filter: [k, k, x[3], 1] },
      attrs: { ...attrs, inputShape: x },
    });
  };
  filterGradient('conv 1×1 32→16 filter', [batch, half, half, 32], [1, 1, 32, 16], 1);
  filterGradient('conv 1×1 672→112 filter', [batch, sixteenth, sixteenth, 672], [1, 1, 672, 112], 1);
  filterGradient('stem 3×3/2 filter', [batch, size, size, 3], [3, 3, 3, 32], 2);
  inputGradient('conv 1×1 32→16 input', [batch, half, half, 32], [1, 1, 32, 16], 1);
  inputGradient('conv 1×1 672→112 input', [batch, sixteenth, sixteenth, 672], [1, 1, 672, 112], 1);
  inputGradient('stem 3×3/2 input', [batch, size, size, 3], [3, 3, 3, 32], 2);
  depthwise('depthwise 3×3 32ch', [batch, half, half, 32], 3, 1);
  depthwise('depthwise 5×5/2 144ch', [batch, half / 2, half / 2, 144], 5, 2);
  list.push({
    label: 'BatchNorm sum over N·H·W',
    kernel: 'Sum',
    inputs: { x: [batch, half, half, 32] },
    attrs: { axis: [0, 1, 2], keepDims: false },
  });
  return list;
}

async function deviceIdle(): Promise<void> {
  flushCommands(tf.backend());
  await watchedDevice()?.queue.onSubmittedWorkDone();
}

async function timeKernel(testCase: KernelCase, inputs: Record<string, tf.Tensor>, repeats: number): Promise<number> {
  const once = () => tf.dispose(tf.engine().runKernel(testCase.kernel, inputs, testCase.attrs as never) as tf.Tensor);
  once(); // compiles the pipeline
  await deviceIdle();
  const start = performance.now();
  for (let i = 0; i < repeats; i++) once();
  await deviceIdle();
  return (performance.now() - start) / repeats;
}

export async function benchWebgpuKernels(options: KernelBenchOptions) {
  const backend = await selectBackend('webgpu');
  const results = [];
  for (const testCase of cases(options.imageSize, options.batch)) {
    const inputs = Object.fromEntries(Object.entries(testCase.inputs).map(([name, shape]) => [name, tf.randomUniform(shape, -1, 1)]));
    useTfjsWebgpuKernels(true);
    const tfjsMs = await timeKernel(testCase, inputs, options.repeats);
    useTfjsWebgpuKernels(false);
    const streamfitMs = await timeKernel(testCase, inputs, options.repeats);
    tf.dispose(Object.values(inputs));
    results.push({
      label: testCase.label,
      kernel: testCase.kernel,
      tfjsMs: round(tfjsMs),
      streamfitMs: round(streamfitMs),
      speedup: Number((tfjsMs / streamfitMs).toFixed(2)),
    });
  }
  return { adapter: backend.adapter?.description, ...options, kernels: results };
}

function round(value: number): number {
  return Number(value.toFixed(3));
}
