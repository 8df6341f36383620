// DepthwiseConv2dNativeBackpropInput for wasm: the transposed depthwise convolution, as a forward depthwise
// convolution (XNNPACK on wasm) of the stride-dilated, padded dy with the spatially flipped filter.

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
      if (info.dilationHeight !== 1 || info.dilationWidth !== 1) throw new Error('depthwise input gradient: dilations above 1 are not supported');
      const [filterHeight, filterWidth, channels, multiplier] = filter.shape;
      const [n, height, width] = inputShape;
      const spread = dilate(dy, info.strideHeight, info.strideWidth);
      const full = tf.pad(spread, [
        [0, 0],
        [filterHeight - 1, filterHeight - 1],
        [filterWidth - 1, filterWidth - 1],
        [0, 0],
      ]);
      // Every output channel (channel × multiplier) convolved with its own flipped tap; multipliers then summed per input channel.
      const flipped = tf.reshape(tf.reverse(filter, [0, 1]), [filterHeight, filterWidth, channels * multiplier, 1]) as tf.Tensor4D;
      let gradient = tf.depthwiseConv2d(full, flipped, 1, 'valid');
      if (multiplier > 1) gradient = tf.sum(tf.reshape(gradient, [...gradient.shape.slice(0, 3), channels, multiplier]), 4) as tf.Tensor4D;
      // `gradient` covers padded-input rows 0 … (outH − 1)·stride + kh − 1; keep the rows of the real input.
      const { top, left } = info.padInfo;
      const missingBottom = Math.max(0, top + height - gradient.shape[1]);
      const missingRight = Math.max(0, left + width - gradient.shape[2]);
      if (missingBottom || missingRight) gradient = tf.pad(gradient, [[0, 0], [0, missingBottom], [0, missingRight], [0, 0]]);
      return tf.slice(gradient, [0, top, left, 0], [n, height, width, channels]);
    });
  },
};
