// The kernels the compiled ones replaced, exactly as they were (JS loops on the heap, tfjs-op compositions), kept only as the
// in-run baseline of bench/wasm-kernels.ts.

import * as tf from '@tensorflow/tfjs';
import { asTensor, kernelResult } from '../src/kernels/ops-as-kernel.ts';

/** Allocates the output first (allocation may grow the heap and detach older views), then views every tensor. */
function heapViews(
  backend: unknown,
  outputShape: number[],
  inputs: tf.TensorInfo[],
): { output: tf.TensorInfo; outputView: Float32Array; inputViews: Float32Array[] } {
  const heap = backend as {
    makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
    typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  };
  const output = heap.makeOutput(outputShape, 'float32');
  return { output, outputView: heap.typedArrayFromHeap(output), inputViews: inputs.map((input) => heap.typedArrayFromHeap(input)) };
}

interface DepthwiseFilterAttrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** Depthwise filter gradient as one pass of JS loops on the heap. */
export const baselineDepthwiseBackpropFilter: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs as unknown as DepthwiseFilterAttrs;
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

interface DepthwiseInputAttrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

/** Inserts stride − 1 zeros between neighbouring rows and columns. */
function dilate(dy: tf.Tensor4D, strideHeight: number, strideWidth: number): tf.Tensor4D {
  if (strideHeight === 1 && strideWidth === 1) return dy;
  const [n, height, width, channels] = dy.shape;
  const spread = tf.pad(tf.reshape(dy, [n, height, 1, width, 1, channels]), [
    [0, 0],
    [0, 0],
    [0, strideHeight - 1],
    [0, 0],
    [0, strideWidth - 1],
    [0, 0],
  ]);
  const flat = tf.reshape(spread, [n, height * strideHeight, width * strideWidth, channels]) as tf.Tensor4D;
  return tf.slice(flat, [0, 0, 0, 0], [n, (height - 1) * strideHeight + 1, (width - 1) * strideWidth + 1, channels]);
}

/** Depthwise input gradient as XNNPACK's forward depthwise convolution of the spread, padded dy with the flipped filter. */
export const baselineDepthwiseBackpropInput: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs as unknown as DepthwiseInputAttrs;
    return kernelResult(backend, () => {
      const dy = asTensor(inputs.dy as tf.TensorInfo, backend) as tf.Tensor4D;
      const filter = asTensor(inputs.filter as tf.TensorInfo, backend) as tf.Tensor4D;
      const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, dilations, pad as never, dimRoundingMode, true);
      if (info.dilationHeight !== 1 || info.dilationWidth !== 1)
        throw new Error('depthwise input gradient: dilations above 1 are not supported');
      const [filterHeight, filterWidth, channels, multiplier] = filter.shape;
      const [n, height, width] = inputShape;
      const { top, left } = info.padInfo;
      // A 'valid' correlation of dy, spread by the stride and padded by kh − 1 on each side, yields the gradient of padded-input
      // rows 0 … R − 1, R = (outH − 1)·stride + kh. Padding less at the top and R − top − height less at the bottom yields
      // exactly the rows of the real input (negative 'less' means extra zero rows).
      const rows = (info.outHeight - 1) * info.strideHeight + filterHeight;
      const columns = (info.outWidth - 1) * info.strideWidth + filterWidth;
      if (top > filterHeight - 1 || left > filterWidth - 1)
        throw new Error('depthwise input gradient: padding larger than the filter is not supported');
      const padded = tf.pad(dilate(dy, info.strideHeight, info.strideWidth), [
        [0, 0],
        [filterHeight - 1 - top, filterHeight - 1 - (rows - top - height)],
        [filterWidth - 1 - left, filterWidth - 1 - (columns - left - width)],
        [0, 0],
      ]);
      // Each output channel (channel × multiplier) with its own flipped tap; multipliers then summed per input channel.
      const flipped = tf.reshape(tf.reverse(filter, [0, 1]), [filterHeight, filterWidth, channels * multiplier, 1]) as tf.Tensor4D;
      let gradient = tf.depthwiseConv2d(padded, flipped, 1, 'valid');
      if (multiplier > 1) gradient = tf.sum(tf.reshape(gradient, [n, height, width, channels, multiplier]), 4) as tf.Tensor4D;
      return gradient;
    });
  },
};

interface ConvFilterAttrs {
  strides: [number, number] | number;
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** Conv filter gradient: xᵀ·dy through transpose and matMul for 1×1 stride 1, JS loops on the heap otherwise. */
export const baselineConv2dBackpropFilter: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as ConvFilterAttrs;
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

interface ConvInputAttrs {
  strides: [number, number] | number;
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

/** Conv input gradient: dy · Wᵀ through transpose and matMul for 1×1 stride 1, tfjs-wasm's own kernel otherwise. */
export function baselinePointwiseBackpropInput(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as ConvInputAttrs;
      const filterInfo = inputs.filter as tf.TensorInfo;
      const filterShape = filterInfo.shape as [number, number, number, number];
      if (dataFormat !== 'NCHW' && filterShape[0] === 1 && filterShape[1] === 1) {
        const info = tf.backend_util.computeConv2DInfo(
          inputShape,
          filterShape,
          strides,
          1,
          pad as never,
          dimRoundingMode,
          false,
          'channelsLast',
        );
        if (info.strideHeight === 1 && info.strideWidth === 1 && info.padInfo.top === 0 && info.padInfo.left === 0) {
          return kernelResult(backend, () => {
            const [inChannels, outChannels] = [filterShape[2], filterShape[3]];
            const rows = inputShape[0] * inputShape[1] * inputShape[2];
            const dy = tf.reshape(asTensor(inputs.dy as tf.TensorInfo, backend), [rows, outChannels]) as tf.Tensor2D;
            const filter = tf.reshape(asTensor(filterInfo, backend), [inChannels, outChannels]) as tf.Tensor2D;
            // Transposing the small filter first is 10× faster on wasm than matMul's transposeB.
            return tf.reshape(tf.matMul(dy, tf.transpose(filter)), inputShape);
          });
        }
      }
      return original.kernelFunc(args);
    },
  };
}
