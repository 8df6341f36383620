// The attributes tfjs hands its convolution-gradient kernels, and the geometry it derives from them: one definition for the
// wasm and webgpu kernels that replace tfjs' own (channels last only, as streamfit's models are).

import * as tf from '@tensorflow/tfjs';

export type Shape4 = [number, number, number, number];

export interface ConvolutionAttributes {
  strides: [number, number] | number;
  /** Depthwise kernels only; tfjs' Conv2D gradients carry no dilations. */
  dilations?: [number, number] | number;
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** The shape of x, given to the input-gradient kernels. */
  inputShape: Shape4;
  /** The shape of the filter, given to the filter-gradient kernels. */
  filterShape: Shape4;
}

export function convolutionAttributes(attrs: tf.NamedAttrMap | undefined): ConvolutionAttributes {
  return attrs as unknown as ConvolutionAttributes;
}

/** tfjs' own geometry (output size, padding, strides) for a convolution of `inputShape` by `filterShape`. */
export function convolutionInfo(
  inputShape: Shape4,
  filterShape: Shape4,
  attributes: ConvolutionAttributes,
  kind: 'conv' | 'depthwise',
): tf.backend_util.Conv2DInfo {
  const { strides, dilations, pad, dimRoundingMode } = attributes;
  const depthwise = kind === 'depthwise';
  return tf.backend_util.computeConv2DInfo(
    inputShape,
    filterShape,
    strides,
    depthwise ? (dilations ?? 1) : 1,
    pad as never,
    dimRoundingMode,
    depthwise,
    'channelsLast',
  );
}
