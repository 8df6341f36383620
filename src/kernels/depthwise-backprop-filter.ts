// DepthwiseConv2dNativeBackpropFilter for wasm, compiled SIMD (src/kernels/assembly/depthwise.ts) on the heap:
// dW[i, j, c, q] = Σ over n, oh, ow of x[n, oh·s + i − top, ow·s + j − left, c] · dy[n, oh, ow, c·m + q].

import type * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput, withScratch } from './compiled-kernels.ts';
import { convolutionAttributes, convolutionInfo, type Shape4 } from './convolution-attributes.ts';

export const depthwiseBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const attributes = convolutionAttributes(attrs);
    const { filterShape } = attributes;
    const xInfo = inputs.x as tf.TensorInfo;
    const dyInfo = inputs.dy as tf.TensorInfo;
    const info = convolutionInfo(xInfo.shape as Shape4, filterShape, attributes, 'depthwise');
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1)
      throw new Error('depthwise filter gradient: dilations above 1 are not supported');
    const [filterHeight, filterWidth, channels, multiplier] = filterShape;
    const output = makeOutput(backend, filterShape);
    // Float64 sums, one per filter value: the result does not depend on the length of the N·OH·OW sum.
    withScratch(backend, filterHeight * filterWidth * channels * multiplier * 8, (sums) =>
      compiledKernels(backend).depthwiseFilterGradient(
        addressOf(backend, xInfo),
        addressOf(backend, dyInfo),
        addressOf(backend, output),
        sums,
        info.batchSize,
        info.inHeight,
        info.inWidth,
        channels,
        multiplier,
        info.outHeight,
        info.outWidth,
        filterHeight,
        filterWidth,
        info.strideHeight,
        info.strideWidth,
        info.padInfo.top,
        info.padInfo.left,
      ),
    );
    return output;
  },
};
