// Sum and Mean for wasm over axes that leave the last one (N·H·W of an NHWC tensor, or H·W per image): compiled SIMD
// (src/kernels/assembly/reduce.ts) adds rows where they lie. tfjs-wasm's own kernels first transpose the whole tensor so
// that the reduced axes come last. Other reductions (innermost axes, integer tensors) go to tfjs' kernels.

import * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput, withScratch } from './compiled-kernels.ts';

interface Attrs {
  axis: number | number[];
  keepDims: boolean;
}

/** The input as [outer, reduce, inner] when the reduced axes are contiguous and the last axis is kept. */
export function middleAxisLayout(
  shape: number[],
  axis: number | number[],
): { outer: number; reduce: number; inner: number; axes: number[] } | undefined {
  const axes = tf.util.parseAxisParam(axis, shape).sort((a, b) => a - b);
  if (axes.length === 0 || axes.some((value, k) => value !== axes[0] + k)) return undefined;
  const last = axes[axes.length - 1];
  if (last === shape.length - 1) return undefined;
  const product = (values: number[]) => values.reduce((a, b) => a * b, 1);
  const layout = {
    outer: product(shape.slice(0, axes[0])),
    reduce: product(shape.slice(axes[0], last + 1)),
    inner: product(shape.slice(last + 1)),
    axes,
  };
  return layout.outer * layout.reduce * layout.inner > 0 ? layout : undefined;
}

export function middleAxisReductionConfig(original: tf.KernelConfig): tf.KernelConfig {
  const mean = original.kernelName === 'Mean';
  return {
    ...original,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const x = inputs.x as tf.TensorInfo;
      const { axis, keepDims } = attrs as unknown as Attrs;
      const layout = x.dtype === 'float32' ? middleAxisLayout(x.shape, axis) : undefined;
      if (!layout) return original.kernelFunc(args);
      const { outer, reduce, inner, axes } = layout;
      const shape = keepDims ? x.shape.map((size, k) => (axes.includes(k) ? 1 : size)) : x.shape.filter((_, k) => !axes.includes(k));
      const output = makeOutput(backend, shape);
      // Scratch: `inner` float32 partial sums of a block of rows, then `inner` float64 running sums.
      const partialBytes = Math.ceil(inner / 4) * 16;
      withScratch(backend, partialBytes + inner * 8, (scratch) => {
        const sums = scratch + partialBytes;
        compiledKernels(backend).sumMiddleAxis(
          addressOf(backend, x),
          addressOf(backend, output),
          scratch,
          sums,
          outer,
          reduce,
          inner,
          mean ? 1 / reduce : 1,
        );
      });
      return output;
    },
  };
}
