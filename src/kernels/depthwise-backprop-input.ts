// DepthwiseConv2dNativeBackpropInput for wasm: the transposed depthwise convolution, computed as a forward depthwise
// convolution (XNNPACK, 10–20× faster than loops in JS) of the stride-dilated, padded dy with the spatially flipped filter.

import * as tf from '@tensorflow/tfjs';
import { asTensor, kernelResult } from './ops-as-kernel.ts';

interface Attrs {
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

export const depthwiseBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs as unknown as Attrs;
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
