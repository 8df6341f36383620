// Conv2D and DepthwiseConv2D (channels last, no dilation): filter and input gradients from tfjs' own backprop kernels,
// the bias gradient as a sum, and the activation's derivative from its output (relu, sigmoid…) or a kept pre-activation (swish).
// On webgpu a 1×1 convolution of squeeze-and-excitation's product x·s takes its filter gradient from x and s, in one kernel.

import * as tf from '@tensorflow/tfjs';
import { compiledConvolutionWorkspace, runsCompiledKernels } from '../../../kernels/wasm-footprint.ts';
import { scaledInputFilterGradientWebgpu } from '../../../kernels/webgpu/conv2d-backprop-filter.ts';
import { fusesOnWebgpu } from '../../../kernels/webgpu/elementwise.ts';
import { swishValue } from '../../../models/lean-gradients.ts';
import { activationGradient, activationName } from '../activation-gradients.ts';
import { type BackwardContext, inputShapeFor, type Layer, type LayerRule, type RuleAnalysis } from '../layer-rule.ts';
import { multiplyRule } from './merge.ts';

/** The fields of tfjs-layers' convolution layers the rule reads (not in their public types). */
interface ConvolutionFields {
  kernel?: tf.LayerVariable;
  depthwiseKernel?: tf.LayerVariable;
  bias?: tf.LayerVariable | null;
  strides: number[];
  padding: 'same' | 'valid' | 'causal';
  dataFormat: 'channelsLast' | 'channelsFirst';
  dilationRate?: number | number[];
  activation?: unknown;
  rank?: number;
}

const fieldsOf = (layer: Layer) => layer as unknown as ConvolutionFields;

/** The activations whose fused forward tfjs-layers computes itself; the others run as conv, then activation. */
const fusedByTfjs = new Set(['linear', 'relu', 'elu']);

function activationOf(layer: Layer) {
  const name = activationName(fieldsOf(layer).activation);
  return { name, gradient: activationGradient(name) };
}

function convolutionRule(className: string, kernelOf: (fields: ConvolutionFields) => tf.LayerVariable | undefined): LayerRule {
  const depthwise = className === 'DepthwiseConv2D';
  return {
    kind: depthwise ? 'depthwise-conv2d' : 'conv2d',
    workspace: () =>
      runsCompiledKernels()
        ? compiledConvolutionWorkspace[depthwise ? 'depthwise' : 'conv2d']
        : depthwise
          ? { input: 5.3, output: 0 }
          : { input: 4.9, output: 3 },
    handles(layer) {
      if (layer.getClassName() !== className) return false;
      const fields = fieldsOf(layer);
      const dilations = [fields.dilationRate ?? 1].flat();
      const { gradient, name } = activationOf(layer);
      return (
        (depthwise || fields.rank === 2) &&
        fields.dataFormat === 'channelsLast' &&
        fields.padding !== 'causal' &&
        (depthwise || dilations.every((rate) => rate === 1)) &&
        gradient !== undefined &&
        // A depthwise layer's pre-activation would have to be recomputed the way tfjs-layers does; none of our models needs it.
        (!depthwise || gradient.reads !== 'input' || name === 'linear')
      );
    },
    needs(layer, analysis: RuleAnalysis) {
      const { gradient } = activationOf(layer);
      return { inputs: [analysis.wants(kernelOf(fieldsOf(layer)))], output: gradient!.reads === 'output' };
    },
    forward(layer, [input]) {
      const fields = fieldsOf(layer);
      const { name, gradient } = activationOf(layer);
      if (gradient!.reads !== 'input' || fusedByTfjs.has(name)) return { output: layer.apply(input) as tf.Tensor };
      // As tfjs-layers' conv2dWithBiasActivation does for an activation it cannot fuse: conv + bias, then the activation.
      const preActivation = tf.fused.conv2d({
        x: input as tf.Tensor4D,
        filter: fields.kernel!.read() as tf.Tensor4D,
        strides: fields.strides as [number, number],
        pad: fields.padding as 'same' | 'valid',
        dilations: fields.dilationRate as [number, number],
        dataFormat: 'NHWC',
        bias: fields.bias?.read(),
      });
      // tfjs-layers' swish is x·σ(1·x), three kernels; the same values in one pass on webgpu, two kernels elsewhere.
      const output =
        name === 'swish' ? swishValue(preActivation) : (fields.activation as { apply(x: tf.Tensor): tf.Tensor }).apply(preActivation);
      return { output, extras: [preActivation] };
    },
    backward(layer, dy, context: BackwardContext) {
      const fields = fieldsOf(layer);
      const kernelVariable = kernelOf(fields)!;
      const { gradient } = activationOf(layer);
      const value =
        gradient!.reads === 'output' ? context.saved.output() : gradient!.reads === 'input' ? context.saved.extra(0) : undefined;
      const dz = gradient!.backward(dy, value);
      try {
        if (fields.bias && context.wants(fields.bias)) context.deliver(fields.bias, tf.sum(dz, [0, 1, 2]));
        const kernel = kernelVariable.read();
        const attrs = { strides: fields.strides, pad: fields.padding, dimRoundingMode: undefined };
        if (context.wants(kernelVariable)) {
          const filterGradient = depthwise
            ? withInput(context, (input) =>
                tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: input, dy: dz }, {
                  ...attrs,
                  dilations: [1, 1],
                  filterShape: kernel.shape,
                } as never),
              )
            : convFilterGradient(context, dz, { ...attrs, dataFormat: 'NHWC', filterShape: kernel.shape });
          context.deliver(kernelVariable, filterGradient as tf.Tensor);
        }
        if (!context.inputsNeedGradient[0]) return [undefined];
        const inputShape = inputShapeFor(layer, dz.shape[0]);
        const inputGradient = depthwise
          ? tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: dz, filter: kernel }, {
              ...attrs,
              dilations: [1, 1],
              inputShape,
            } as never)
          : tf.engine().runKernel('Conv2DBackpropInput', { dy: dz, filter: kernel }, { ...attrs, dataFormat: 'NHWC', inputShape } as never);
        return [inputGradient as tf.Tensor];
      } finally {
        dz.dispose();
      }
    },
    extraElements(layer) {
      const { gradient, name } = activationOf(layer);
      if (gradient?.reads !== 'input' || fusedByTfjs.has(name)) return 0;
      return (layer.outputShape as number[]).slice(1).reduce((product, size) => product * size, 1);
    },
  };
}

/** `body` of the saved input, disposed after. */
function withInput<T>(context: BackwardContext, body: (input: tf.Tensor) => T): T {
  const input = context.saved.input(0);
  try {
    return body(input);
  } finally {
    input.dispose();
  }
}

/**
 * Conv2D's filter gradient. On webgpu, where the input is squeeze-and-excitation's product x·s (rebuilt on demand), from x
 * and s in one kernel: the product is never rebuilt (16 passes and full-size tensors fewer a B0 step).
 */
function convFilterGradient(context: BackwardContext, dz: tf.Tensor, attrs: object): tf.Tensor {
  const unbuilt = fusesOnWebgpu(dz) ? context.saved.unbuiltInput(0, multiplyRule.kind) : undefined;
  const runKernel = (input: tf.Tensor) => tf.engine().runKernel('Conv2DBackpropFilter', { x: input, dy: dz }, attrs as never) as tf.Tensor;
  if (!unbuilt) return withInput(context, runKernel);
  try {
    const [a, b] = unbuilt.inputs;
    const [x, scale] = a.size >= b.size ? [a, b] : [b, a];
    const fused = scaledInputFilterGradientWebgpu(x, scale, dz, attrs);
    if (fused) return fused;
    const input = unbuilt.rebuild();
    try {
      return runKernel(input);
    } finally {
      input.dispose();
    }
  } finally {
    tf.dispose([...unbuilt.inputs, ...unbuilt.extras]);
  }
}

export const conv2dRule = convolutionRule('Conv2D', (fields) => fields.kernel);
export const depthwiseConv2dRule = convolutionRule('DepthwiseConv2D', (fields) => fields.depthwiseKernel);
