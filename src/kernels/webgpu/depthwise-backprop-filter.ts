// DepthwiseConv2dNativeBackpropFilter for webgpu: dW[i, j, c, q] = Σ over r = (n, oh, ow) of x[n, oh·s + i − top, ow·s + j − left, c]·dy[r, c·m + q].
// A thread owns one output channel and every tap (dy is read once for all of them), four threads share a channel and
// split its rows, and the rows are further split across workgroups; partial sums are added in a fixed order afterwards.
// tfjs' own shader runs one thread per dW element over every row: 9 × channels threads for a 3×3 layer.

import type * as tf from '@tensorflow/tfjs';
import { convolutionAttributes, convolutionInfo, type Shape4 } from '../convolution-attributes.ts';
import { geometryUniforms, program, release, run, splitCount, splitRowsWgsl, sumSplits } from './program.ts';

const channelsPerWorkgroup = 64;
const lanes = 4; // threads that share a channel's rows inside a workgroup

export const depthwiseBackpropFilterWebgpuConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const attributes = convolutionAttributes(attrs);
    const { filterShape } = attributes;
    const x = inputs.x as tf.TensorInfo;
    const dy = inputs.dy as tf.TensorInfo;
    const info = convolutionInfo(x.shape as Shape4, filterShape, attributes, 'depthwise');
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1)
      throw new Error('depthwise filter gradient on webgpu: dilations above 1 are not supported');
    const [filterHeight, filterWidth, channels, multiplier] = filterShape;
    const taps = filterHeight * filterWidth;
    const outChannels = channels * multiplier;
    const rows = info.batchSize * info.outHeight * info.outWidth;
    const channelGroups = Math.ceil(outChannels / channelsPerWorkgroup);
    const outputElements = taps * outChannels;
    const splits = splitCount(rows, channelGroups, outputElements, 64);
    const chunk = Math.ceil(rows / splits);
    const built = program({
      key: `depthwise_filter_grad_${filterHeight}_${filterWidth}`,
      outputShape: splits === 1 ? filterShape : [splits, outputElements],
      inputs: ['x', 'dy'],
      uniforms: {
        ...geometryUniforms(info),
        channels,
        multiplier,
        outChannels,
        rows,
        chunk,
      },
      workgroupSize: [channelsPerWorkgroup, lanes, 1],
      dispatch: [channelGroups, splits, 1],
      code: shader(filterHeight, filterWidth),
    });
    const partial = run(backend, built, [x, dy]);
    if (splits === 1) return partial;
    const summed = sumSplits(backend, partial, splits, filterShape);
    release(backend, partial);
    return summed;
  },
};

function shader(filterHeight: number, filterWidth: number): string {
  const taps = filterHeight * filterWidth;
  return `
    var<workgroup> laneSums: array<f32, ${lanes * channelsPerWorkgroup}>;

    fn main() {
      ${splitRowsWgsl(channelsPerWorkgroup, 'outChannel')}
      var sums: array<f32, ${taps}>;
      if (outChannel < uniforms.outChannels) {
        let channel = outChannel / uniforms.multiplier;
        for (var row = start + lane; row < end; row += ${lanes}) {
          let ow = row % uniforms.outWidth;
          let rest = row / uniforms.outWidth;
          let oh = rest % uniforms.outHeight;
          let n = rest / uniforms.outHeight;
          let gradient = dy[row * uniforms.outChannels + outChannel];
          let top = oh * uniforms.strideHeight - uniforms.padTop;
          let left = ow * uniforms.strideWidth - uniforms.padLeft;
          for (var i = 0; i < ${filterHeight}; i++) {
            let h = top + i;
            if (h < 0 || h >= uniforms.inHeight) {
              continue;
            }
            let rowBase = (n * uniforms.inHeight + h) * uniforms.inWidth;
            for (var j = 0; j < ${filterWidth}; j++) {
              let w = left + j;
              if (w >= 0 && w < uniforms.inWidth) {
                sums[i * ${filterWidth} + j] = fma(x[(rowBase + w) * uniforms.channels + channel], gradient, sums[i * ${filterWidth} + j]);
              }
            }
          }
        }
      }
      // One tap at a time through workgroup memory: 1 KiB whatever the filter size.
      for (var t = 0; t < ${taps}; t++) {
        laneSums[lane * ${channelsPerWorkgroup} + local] = sums[t];
        workgroupBarrier();
        if (lane == 0 && outChannel < uniforms.outChannels) {
          var total = 0.0;
          for (var l = 0; l < ${lanes}; l++) {
            total += laneSums[l * ${channelsPerWorkgroup} + local];
          }
          result[(split * ${taps} + t) * uniforms.outChannels + outChannel] = total;
        }
        workgroupBarrier();
      }
    }`;
}
