// Slice for wasm when the slice is not one contiguous range (the gradient of ZeroPadding2D, for one): compiled block copies
// (src/kernels/assembly/copy-blocks.ts) of the longest contiguous runs. tfjs-wasm's own kernel first copies the whole input
// out of the heap, then copies one innermost row at a time. Contiguous slices, ranks above 4 and other dtypes go to it.

import * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput } from './compiled-kernels.ts';

/** The slice as runs of contiguous elements over up to three strided outer axes (counts and strides in elements). */
export function sliceRuns(
  shape: number[],
  begin: number[],
  size: number[],
): { offset: number; run: number; outer: [number, number][] } | undefined {
  if (shape.length > 4) return undefined;
  const lead = 4 - shape.length;
  const [full, from, count] = [shape, begin, size].map((values) => [...Array(lead).fill(values === begin ? 0 : 1), ...values]);
  const strides = full.map((_, axis) => full.slice(axis + 1).reduce((a, b) => a * b, 1));
  let axis = 3;
  let run = count[3];
  while (axis > 0 && count[axis] === full[axis]) {
    axis--;
    run *= count[axis];
  }
  const outer: [number, number][] = [];
  for (let k = 0; k < axis; k++) outer.push([count[k], strides[k]]);
  while (outer.length < 3) outer.unshift([1, 0]);
  return { offset: from.reduce((sum, value, k) => sum + value * strides[k], 0), run, outer };
}

export function sliceConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const x = inputs.x as tf.TensorInfo;
      const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
      if (x.dtype !== 'float32' && x.dtype !== 'int32') return original.kernelFunc(args);
      const [starts, sizes] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
      const runs = sliceRuns(x.shape, starts, sizes);
      if (!runs || sizes.some((value) => value === 0) || tf.slice_util.isSliceContinous(x.shape, starts, sizes))
        return original.kernelFunc(args);
      const output = makeOutput(backend, sizes, x.dtype);
      const [[count0, stride0], [count1, stride1], [count2, stride2]] = runs.outer;
      compiledKernels(backend).copyBlocks(
        addressOf(backend, x) + runs.offset * 4,
        addressOf(backend, output),
        runs.run * 4,
        count0,
        stride0 * 4,
        count1,
        stride1 * 4,
        count2,
        stride2 * 4,
      );
      return output;
    },
  };
}
