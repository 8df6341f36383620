// DepthwiseConv2dNativeBackpropFilter for wasm: each filter tap is the per-channel sum of window(x, i, j) × dy.

import * as tf from '@tensorflow/tfjs';
import { asTensor, kernelResult, padForConvolution, tapWindow } from './ops-as-kernel.ts';

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
    return kernelResult(backend, () => {
      const x = asTensor(inputs.x as tf.TensorInfo, backend) as tf.Tensor4D;
      const dy = asTensor(inputs.dy as tf.TensorInfo, backend) as tf.Tensor4D;
      const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, dilations, pad as never, dimRoundingMode, true);
      if (info.dilationHeight !== 1 || info.dilationWidth !== 1) throw new Error('depthwise filter gradient: dilations above 1 are not supported');
      const [filterHeight, filterWidth, channels, multiplier] = filterShape;
      const [n] = x.shape;
      const dyByChannel = tf.reshape(dy, [n, info.outHeight, info.outWidth, channels, multiplier]);
      const padded = padForConvolution(x, info);
      const taps: tf.Tensor[] = [];
      for (let i = 0; i < filterHeight; i++) {
        for (let j = 0; j < filterWidth; j++) {
          const window = tapWindow(padded, i, j, info);
          const product = multiplier === 1 ? tf.mul(window, dy) : tf.mul(tf.expandDims(window, 4), dyByChannel);
          taps.push(tf.sum(product, [0, 1, 2]));
        }
      }
      return tf.reshape(tf.stack(taps), [filterHeight, filterWidth, channels, multiplier]);
    });
  },
};
