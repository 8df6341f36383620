// DepthwiseConv2dNativeBackpropFilter for wasm, compiled SIMD (src/kernels/assembly/depthwise.ts) on the heap:
// dW[i, j, c, q] = Σ over n, oh, ow of x[n, oh·s + i − top, ow·s + j − left, c] · dy[n, oh, ow, c·m + q].

import * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput, withScratch } from './compiled-kernels.ts';

interface Attrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

export const depthwiseBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs as unknown as Attrs;
    const xInfo = inputs.x as tf.TensorInfo;
    const dyInfo = inputs.dy as tf.TensorInfo;
    const info = tf.backend_util.computeConv2DInfo(
      xInfo.shape as [number, number, number, number],
      filterShape,
      strides,
      dilations,
      pad as never,
      dimRoundingMode,
      true,
    );
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
