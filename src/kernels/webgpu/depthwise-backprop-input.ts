// DepthwiseConv2dNativeBackpropInput for webgpu: dx[n, h, w, c] = Σ over taps (i, j) that reach (h, w) and q of
// dy[n, (h + top − i)/s, (w + left − j)/s, c·m + q]·W[i, j, c, q]. One thread per dx element, like tfjs' shader, but the
// taps a stride skips are never visited (tfjs tests each with a float division and fract()), and the grid is strided so
// any size fits the dispatch limit.

import type * as tf from '@tensorflow/tfjs';
import { convolutionAttributes, convolutionInfo, type Shape4 } from '../convolution-attributes.ts';
import { geometryUniforms, program, run } from './program.ts';

const workgroupSize = 256;

export const depthwiseBackpropInputWebgpuConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const attributes = convolutionAttributes(attrs);
    const { inputShape } = attributes;
    const dy = inputs.dy as tf.TensorInfo;
    const filter = inputs.filter as tf.TensorInfo;
    const info = convolutionInfo(inputShape, filter.shape as Shape4, attributes, 'depthwise');
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1)
      throw new Error('depthwise input gradient on webgpu: dilations above 1 are not supported');
    const [filterHeight, filterWidth, channels, multiplier] = filter.shape;
    const elements = inputShape.reduce((a, b) => a * b, 1);
    const built = program({
      key: `depthwise_input_grad_${multiplier === 1}`,
      outputShape: inputShape,
      inputs: ['dy', 'W'],
      uniforms: {
        ...geometryUniforms(info),
        elements,
        channels,
        multiplier,
        filterHeight,
        filterWidth,
      },
      workgroupSize: [workgroupSize, 1, 1],
      dispatch: [Math.min(Math.ceil(elements / workgroupSize), 65535), 1, 1],
      code: shader(multiplier === 1),
    });
    return run(backend, built, [dy, filter]);
  },
};

function shader(singleMultiplier: boolean): string {
  const accumulate = singleMultiplier
    ? 'sum = fma(dy[dyBase + c], W[(i * uniforms.filterWidth + j) * uniforms.channels + c], sum);'
    : `for (var q = 0; q < uniforms.multiplier; q++) {
                sum = fma(dy[dyBase + c * uniforms.multiplier + q], W[((i * uniforms.filterWidth + j) * uniforms.channels + c) * uniforms.multiplier + q], sum);
              }`;
  return `
    fn main() {
      let stride = i32(numWorkgroups.x) * ${workgroupSize};
      let outChannels = uniforms.channels * uniforms.multiplier;
      for (var index = i32(workgroupId.x) * ${workgroupSize} + i32(localIndex); index < uniforms.elements; index += stride) {
        let c = index % uniforms.channels;
        var rest = index / uniforms.channels;
        let w = rest % uniforms.inWidth;
        rest = rest / uniforms.inWidth;
        let h = rest % uniforms.inHeight;
        let n = rest / uniforms.inHeight;
        let hh = h + uniforms.padTop;
        let ww = w + uniforms.padLeft;
        var sum = 0.0;
        // Only taps with (hh − i) divisible by the stride reach this pixel: start at hh mod s and step by s.
        for (var i = hh % uniforms.strideHeight; i < uniforms.filterHeight && i <= hh; i += uniforms.strideHeight) {
          let oh = (hh - i) / uniforms.strideHeight;
          if (oh >= uniforms.outHeight) {
            continue;
          }
          for (var j = ww % uniforms.strideWidth; j < uniforms.filterWidth && j <= ww; j += uniforms.strideWidth) {
            let ow = (ww - j) / uniforms.strideWidth;
            if (ow < uniforms.outWidth) {
              let dyBase = ((n * uniforms.outHeight + oh) * uniforms.outWidth + ow) * outChannels;
              ${accumulate}
            }
          }
        }
        result[index] = sum;
      }
    }`;
}
