// DepthwiseConv2dNativeBackpropInput for wasm, compiled SIMD (src/kernels/assembly/depthwise.ts) on the heap: every dy value,
// times each filter tap, is added to the input pixel that tap read: dx[n, oh·s + i − top, ow·s + j − left, c] += dy · W[i, j, c].

import type * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput } from './compiled-kernels.ts';
import { convolutionAttributes, convolutionInfo } from './convolution-attributes.ts';

export const depthwiseBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const attributes = convolutionAttributes(attrs);
    const { inputShape } = attributes;
    const dyInfo = inputs.dy as tf.TensorInfo;
    const filterInfo = inputs.filter as tf.TensorInfo;
    const filterShape = filterInfo.shape as [number, number, number, number];
    const info = convolutionInfo(inputShape, filterShape, attributes, 'depthwise');
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1)
      throw new Error('depthwise input gradient: dilations above 1 are not supported');
    const [filterHeight, filterWidth, channels, multiplier] = filterShape;
    const output = makeOutput(backend, inputShape);
    compiledKernels(backend).depthwiseInputGradient(
      addressOf(backend, dyInfo),
      addressOf(backend, filterInfo),
      addressOf(backend, output),
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
    );
    return output;
  },
};
