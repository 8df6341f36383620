// Conv2DBackpropInput for wasm: a 1×1, stride-1 convolution's input gradient (most of EfficientNet) is dy · Wᵀ, compiled SIMD
// (src/kernels/assembly/conv-input.ts) without tfjs' transpose, reshape and matMul kernel calls. Other shapes go to wasm's own kernel.

import type * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput, withScratch } from './compiled-kernels.ts';
import { convolutionAttributes, convolutionInfo } from './convolution-attributes.ts';

export function pointwiseBackpropInputConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const attributes = convolutionAttributes(attrs);
      const { dataFormat, inputShape } = attributes;
      const filterInfo = inputs.filter as tf.TensorInfo;
      const filterShape = filterInfo.shape as [number, number, number, number];
      if (dataFormat === 'NCHW' || filterShape[0] !== 1 || filterShape[1] !== 1) return original.kernelFunc(args);
      const info = convolutionInfo(inputShape, filterShape, attributes, 'conv');
      if (info.strideHeight !== 1 || info.strideWidth !== 1 || info.padInfo.top !== 0 || info.padInfo.left !== 0)
        return original.kernelFunc(args);
      const [inChannels, outChannels] = [filterShape[2], filterShape[3]];
      const output = makeOutput(backend, inputShape);
      // Scratch for the transposed filter, [outChannels, inChannels].
      withScratch(backend, inChannels * outChannels * 4, (transposed) =>
        compiledKernels(backend).pointwiseInputGradient(
          addressOf(backend, inputs.dy as tf.TensorInfo),
          addressOf(backend, filterInfo),
          addressOf(backend, output),
          transposed,
          inputShape[0] * inputShape[1] * inputShape[2],
          inChannels,
          outChannels,
        ),
      );
      return output;
    },
  };
}
