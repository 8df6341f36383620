// DepthwiseConv2dNativeBackpropFilter for wasm, as one pass of loops on the heap:
// dW[i, j, c, q] = Σ over n, oh, ow of x[n, oh·s + i − top, ow·s + j − left, c] · dy[n, oh, ow, c·m + q].
// Composing it from slices and reductions was 40× slower (one copy of x per filter tap).

import * as tf from '@tensorflow/tfjs';
import { heapViews } from './wasm-heap.ts';

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
    const { batchSize, inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } = info;
    const { top, left } = info.padInfo;
    const { output, outputView, inputViews } = heapViews(backend, filterShape, [xInfo, dyInfo]);
    const [x, dy] = inputViews;
    const outChannels = channels * multiplier;
    // Sums over N·OH·OW terms: kept in float64 so the result does not depend on the summation order.
    const sums = new Float64Array(filterHeight * filterWidth * outChannels);
    for (let n = 0; n < batchSize; n++) {
      for (let oh = 0; oh < outHeight; oh++) {
        for (let ow = 0; ow < outWidth; ow++) {
          const dyBase = ((n * outHeight + oh) * outWidth + ow) * outChannels;
          for (let i = 0; i < filterHeight; i++) {
            const h = oh * strideHeight + i - top;
            if (h < 0 || h >= inHeight) continue;
            for (let j = 0; j < filterWidth; j++) {
              const w = ow * strideWidth + j - left;
              if (w < 0 || w >= inWidth) continue;
              const xBase = ((n * inHeight + h) * inWidth + w) * channels;
              const sumBase = (i * filterWidth + j) * outChannels;
              if (multiplier === 1) {
                for (let c = 0; c < channels; c++) sums[sumBase + c] += x[xBase + c] * dy[dyBase + c];
              } else {
                for (let c = 0; c < channels; c++) {
                  const value = x[xBase + c];
                  for (let q = 0; q < multiplier; q++) sums[sumBase + c * multiplier + q] += value * dy[dyBase + c * multiplier + q];
                }
              }
            }
          }
        }
      }
    }
    outputView.set(sums);
    return output;
  },
};
