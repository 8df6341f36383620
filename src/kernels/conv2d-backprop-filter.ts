// Conv2DBackpropFilter for wasm, compiled SIMD (src/kernels/assembly/conv-filter.ts) on the heap:
// dW[i, j, ci, co] = Σ x[n, oh·s + i − top, ow·s + j − left, ci] · dy[n, oh, ow, co]. A 1×1, stride-1 convolution's gradient is
// xᵀ·dy, computed without the transpose tfjs-wasm's matrix product needs for it.

import type * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput, withScratch } from './compiled-kernels.ts';
import { convolutionAttributes, convolutionInfo, type Shape4 } from './convolution-attributes.ts';

export const conv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const attributes = convolutionAttributes(attrs);
    const { dataFormat, filterShape } = attributes;
    if (dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter on wasm supports NHWC only');
    const xInfo = inputs.x as tf.TensorInfo;
    const dyInfo = inputs.dy as tf.TensorInfo;
    const info = convolutionInfo(xInfo.shape as Shape4, filterShape, attributes, 'conv');
    const [filterHeight, filterWidth, inChannels, outChannels] = filterShape;
    const { batchSize, inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } = info;
    const { top, left } = info.padInfo;
    const output = makeOutput(backend, filterShape);
    const kernels = compiledKernels(backend);
    const [x, dy, result] = [addressOf(backend, xInfo), addressOf(backend, dyInfo), addressOf(backend, output)];
    // Float64 sums, one per filter value: the result does not depend on the length of the N·OH·OW sum.
    withScratch(backend, filterHeight * filterWidth * inChannels * outChannels * 8, (sums) => {
      const pointwise = filterHeight === 1 && filterWidth === 1 && strideHeight === 1 && strideWidth === 1 && top === 0 && left === 0;
      if (pointwise) kernels.pointwiseFilterGradient(x, dy, result, sums, batchSize * outHeight * outWidth, inChannels, outChannels);
      else {
        kernels.convFilterGradient(
          x,
          dy,
          result,
          sums,
          batchSize,
          inHeight,
          inWidth,
          inChannels,
          outHeight,
          outWidth,
          outChannels,
          filterHeight,
          filterWidth,
          strideHeight,
          strideWidth,
          top,
          left,
        );
      }
    });
    return output;
  },
};
