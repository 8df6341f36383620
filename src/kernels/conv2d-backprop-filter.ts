// Conv2DBackpropFilter for wasm: dW[i, j] = window(x, i, j)ᵀ · dy, as matrix products (wasm's fastest kernel).

import * as tf from '@tensorflow/tfjs';
import { asTensor, kernelResult, padForConvolution, tapWindow } from './ops-as-kernel.ts';

interface Attrs {
  strides: [number, number] | number;
  pad: tf.backend_util.PadInfo['type'] | number | tf.backend_util.ExplicitPadding;
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
    return kernelResult(backend, () => {
      const x = asTensor(inputs.x as tf.TensorInfo, backend) as tf.Tensor4D;
      const dy = asTensor(inputs.dy as tf.TensorInfo, backend) as tf.Tensor4D;
      const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad as never, dimRoundingMode, false, 'channelsLast');
      const [filterHeight, filterWidth, inChannels, outChannels] = filterShape;
      const rows = x.shape[0] * info.outHeight * info.outWidth;
      const dyMatrix = tf.reshape(dy, [rows, outChannels]) as tf.Tensor2D;
      const padded = padForConvolution(x, info);
      const taps: tf.Tensor2D[] = [];
      for (let i = 0; i < filterHeight; i++) {
        for (let j = 0; j < filterWidth; j++) {
          const window = tf.reshape(tapWindow(padded, i, j, info), [rows, inChannels]) as tf.Tensor2D;
          taps.push(tf.matMul(window, dyMatrix, true, false));
        }
      }
      return tf.reshape(taps.length === 1 ? taps[0] : tf.stack(taps), [filterHeight, filterWidth, inChannels, outChannels]);
    });
  },
};
