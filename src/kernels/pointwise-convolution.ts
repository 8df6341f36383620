// FusedConv2D and Conv2D for wasm when the convolution is 1×1 with stride 1 (most of EfficientNet's and MobileNet's
// weights): x · W as one compiled product (src/kernels/assembly/matrix-product.ts) on the filter as it is. tfjs-wasm hands
// these to XNNPACK, which packs each new filter before its first use; a training step's filters are new after every update,
// and for the late layers' few pixels the packing takes longer than the product (B0 at 128 px, micro-batch 1: ~16 ms of a
// ~95 ms step). Other shapes, activations and layouts go to tfjs-wasm's own kernel.

import * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput } from './compiled-kernels.ts';

interface ConvolutionAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  dataFormat?: 'NHWC' | 'NCHW';
  activation?: string;
}

const isOne = (value: number | [number, number] | undefined) => value === undefined || [value].flat().every((extent) => extent === 1);

export function pointwiseConvolutionConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const { inputs, backend } = args;
      const { strides, dilations, dataFormat, activation } = args.attrs as unknown as ConvolutionAttrs;
      const { x, filter, bias, preluActivationWeights } = inputs as Record<string, tf.TensorInfo | undefined>;
      const [height, width, inChannels, outChannels] = filter!.shape;
      const channels = x!.shape[3];
      const covered =
        x!.dtype === 'float32' &&
        filter!.dtype === 'float32' &&
        height === 1 &&
        width === 1 &&
        isOne(strides) &&
        isOne(dilations) &&
        (dataFormat ?? 'NHWC') === 'NHWC' &&
        (activation ?? 'linear') === 'linear' &&
        !preluActivationWeights &&
        channels === inChannels &&
        (!bias || (bias.dtype === 'float32' && tf.util.sizeFromShape(bias.shape) === outChannels));
      if (!covered) return original.kernelFunc(args);
      const [batch, rows, columns] = x!.shape;
      const output = makeOutput(backend, [batch, rows, columns, outChannels]);
      compiledKernels(backend).pointwiseConvolution(
        addressOf(backend, x!),
        addressOf(backend, filter!),
        bias ? addressOf(backend, bias) : 0,
        addressOf(backend, output),
        batch * rows * columns,
        inChannels,
        outChannels,
      );
      return output;
    },
  };
}
