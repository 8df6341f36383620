// Sum and Mean on webgpu over a block of axes that ends before the last one, as in BatchNorm's statistics and gradients
// (axes N, H, W of NHWC) and global pooling (H, W): the input is read as [outer, rows, channels] in place. tfjs
// transposes the whole tensor to make those axes innermost, then gives each output one workgroup: 32 workgroups for a
// 32-channel BatchNorm. Here 64 channels × 4 lanes make a workgroup and the rows are split across workgroups. The same
// pass sums a product of two tensors without the product in memory (a broadcast product's gradient: squeeze-excite's scale).

import * as tf from '@tensorflow/tfjs';
import { program, release, run, splitCount, splitRowsWgsl, sumSplits } from './program.ts';

const channelsPerWorkgroup = 64;
const lanes = 4;

/** [outer, rows, channels] when `axes` is one run of axes that stops before the last; undefined otherwise. */
export function middleAxesShape(shape: number[], axes: number[]): [number, number, number] | undefined {
  const sorted = [...axes].sort((a, b) => a - b);
  const first = sorted[0];
  const last = sorted.at(-1)!;
  if (sorted.length === 0 || last >= shape.length - 1 || sorted.some((axis, i) => axis !== first + i)) return undefined;
  const product = (from: number, to: number) => shape.slice(from, to).reduce((a, b) => a * b, 1);
  return [product(0, first), product(first, last + 1), product(last + 1, shape.length)];
}

function reduceConfig(kernelName: 'Sum' | 'Mean', original: tf.KernelConfig | undefined): tf.KernelConfig {
  return {
    kernelName,
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const x = inputs.x as tf.TensorInfo;
      const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const layout = x.dtype === 'float32' ? middleAxesShape(x.shape, axes) : undefined;
      if (!layout || layout[1] < 2) {
        if (!original) throw new Error(`${kernelName} on webgpu: tfjs' kernel is missing`);
        return original.kernelFunc(args);
      }
      const outputShape = keepDims ? x.shape.map((size, i) => (axes.includes(i) ? 1 : size)) : x.shape.filter((_, i) => !axes.includes(i));
      const scale = kernelName === 'Mean' ? 1 / layout[1] : 1;
      return sumMiddleAxes(backend, [x], layout, outputShape, scale);
    },
  };
}

/**
 * Σ a·b over `axes` (float32 tensors of one shape; the axes one run that ends before the last), shaped `outputShape`, in
 * one pass and its splits' sum; undefined where that layout does not apply (multiply and sum instead). Disposes nothing.
 */
export function productSumWebgpu(a: tf.Tensor, b: tf.Tensor, axes: number[], outputShape: number[]): tf.Tensor | undefined {
  const layout = middleAxesShape(a.shape, axes);
  if (!layout || !tf.util.arraysEqual(a.shape, b.shape) || a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  return tf.engine().makeTensorFromTensorInfo(sumMiddleAxes(tf.backend(), [a, b], layout, outputShape, 1)) as tf.Tensor;
}

/** Σ over the rows of x, or of x·y when two inputs are given. */
function sumMiddleAxes(
  backend: unknown,
  inputs: tf.TensorInfo[],
  [outer, rows, channels]: [number, number, number],
  outputShape: number[],
  scale: number,
): tf.TensorInfo {
  const product = inputs.length === 2;
  const channelGroups = Math.ceil(channels / channelsPerWorkgroup);
  const splits = Math.min(splitCount(rows, channelGroups * outer, outer * channels, 64), Math.floor(65535 / outer) || 1);
  const chunk = Math.ceil(rows / splits);
  const built = program({
    key: product ? 'channel_product_sum' : 'channel_sum',
    outputShape: splits === 1 ? outputShape : [splits, outer * channels],
    inputs: product ? ['x', 'y'] : ['x'],
    uniforms: { rows, channels, chunk, outer },
    floatUniforms: { scale: splits === 1 ? scale : 1 },
    workgroupSize: [channelsPerWorkgroup, lanes, 1],
    dispatch: [channelGroups, splits, outer],
    code: `
      var<workgroup> laneSums: array<f32, ${lanes * channelsPerWorkgroup}>;

      fn main() {
        ${splitRowsWgsl(channelsPerWorkgroup)}
        let o = i32(workgroupId.z);
        var sum = 0.0;
        if (channel < uniforms.channels) {
          let base = o * uniforms.rows;
          for (var row = start + lane; row < end; row += ${lanes}) {
            let index = (base + row) * uniforms.channels + channel;
            sum += ${product ? 'x[index] * y[index]' : 'x[index]'};
          }
        }
        laneSums[lane * ${channelsPerWorkgroup} + local] = sum;
        workgroupBarrier();
        if (lane == 0 && channel < uniforms.channels) {
          var total = 0.0;
          for (var l = 0; l < ${lanes}; l++) {
            total += laneSums[l * ${channelsPerWorkgroup} + local];
          }
          result[(split * uniforms.outer + o) * uniforms.channels + channel] = total * uniforms.scale;
        }
      }`,
  });
  const partial = run(backend, built, inputs);
  if (splits === 1) return partial;
  const summed = sumSplits(backend, partial, splits, outputShape, scale);
  release(backend, partial);
  return summed;
}

/** Sum and Mean configs that fall back to `originals` (tfjs' own kernels) for any other axes or dtype. */
export function channelReductionConfigs(originals: Map<string, tf.KernelConfig>): tf.KernelConfig[] {
  return [reduceConfig('Sum', originals.get('Sum')), reduceConfig('Mean', originals.get('Mean'))];
}
