// Conv2DBackpropFilter for wasm. A 1×1, stride-1 convolution's filter gradient is one matrix product xᵀ·dy (wasm's fastest
// kernel); any other shape runs as loops on the heap: dW[i, j, ci, co] = Σ x[n, oh·s + i − top, ow·s + j − left, ci] · dy[n, oh, ow, co].

import * as tf from '@tensorflow/tfjs';
import { asTensor, kernelResult } from './ops-as-kernel.ts';
import { heapViews } from './wasm-heap.ts';

interface Attrs {
  strides: [number, number] | number;
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

export const conv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Attrs;
    if (dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter on wasm supports NHWC only');
    const xInfo = inputs.x as tf.TensorInfo;
    const dyInfo = inputs.dy as tf.TensorInfo;
    const info = tf.backend_util.computeConv2DInfo(
      xInfo.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad as never,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const [filterHeight, filterWidth, inChannels, outChannels] = filterShape;
    const { batchSize, inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } = info;
    const { top, left } = info.padInfo;

    const pointwise = filterHeight === 1 && filterWidth === 1 && strideHeight === 1 && strideWidth === 1 && top === 0 && left === 0;
    if (pointwise) {
      return kernelResult(backend, () => {
        const rows = batchSize * outHeight * outWidth;
        const x = tf.reshape(asTensor(xInfo, backend), [rows, inChannels]) as tf.Tensor2D;
        const dy = tf.reshape(asTensor(dyInfo, backend), [rows, outChannels]) as tf.Tensor2D;
        // An explicit transpose then a plain product is 3× faster on wasm than matMul's transposeA.
        return tf.reshape(tf.matMul(tf.transpose(x), dy), filterShape);
      });
    }

    const { output, outputView, inputViews } = heapViews(backend, filterShape, [xInfo, dyInfo]);
    const [x, dy] = inputViews;
    const sums = new Float64Array(filterHeight * filterWidth * inChannels * outChannels);
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
              const xBase = ((n * inHeight + h) * inWidth + w) * inChannels;
              for (let ci = 0; ci < inChannels; ci++) {
                const value = x[xBase + ci];
                if (value === 0) continue;
                const sumBase = ((i * filterWidth + j) * inChannels + ci) * outChannels;
                for (let co = 0; co < outChannels; co++) sums[sumBase + co] += value * dy[dyBase + co];
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
