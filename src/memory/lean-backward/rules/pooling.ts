// Pooling: global average (dy / HW, handed on unexpanded: the pending sum broadcasts it), max pooling (MaxPoolGrad reads the
// input and output) and average pooling (AvgPoolGrad), channels last.

import * as tf from '@tensorflow/tfjs';
import { divideWebgpu, fusesOnWebgpu } from '../../../kernels/webgpu/elementwise.ts';
import { inputShapesOf, type Layer, type LayerRule } from '../layer-rule.ts';
import { after } from '../tensor-views.ts';

interface PoolingFields {
  poolSize: [number, number];
  strides: [number, number];
  padding: 'same' | 'valid';
  dataFormat: 'channelsLast' | 'channelsFirst';
}

const fieldsOf = (layer: Layer) => layer as unknown as PoolingFields;
const channelsLast = (layer: Layer) => fieldsOf(layer).dataFormat === 'channelsLast';

export const globalAveragePoolingRule: LayerRule = {
  kind: 'global-average-pooling2d',
  workspace: { input: 0, output: 1, forward: 0 },
  handles: (layer) => layer.getClassName() === 'GlobalAveragePooling2D' && channelsLast(layer),
  needs: () => ({ inputs: [false], output: false }),
  forward: (layer, [input]) => ({ output: layer.apply(input) as tf.Tensor }),
  backward(layer, dy, context) {
    if (!context.inputsNeedGradient[0]) return after(dy, () => [undefined]);
    const [, height, width] = inputShapesOf(layer)[0] as number[];
    // tfjs' mean gradient divides by the count; [N, 1, 1, C] broadcasts where the sum of gradients is formed.
    const count = height * width;
    return after(dy, () => [
      tf.tidy(() =>
        tf.reshape(fusesOnWebgpu(dy) ? divideWebgpu(dy, count) : tf.div(dy, count), [dy.shape[0], 1, 1, dy.shape[1] as number]),
      ),
    ]);
  },
};

function poolAttributes(layer: Layer) {
  const { poolSize, strides, padding } = fieldsOf(layer);
  return { filterSize: poolSize, strides, pad: padding, dimRoundingMode: undefined };
}

export const maxPoolingRule: LayerRule = {
  kind: 'max-pooling2d',
  workspace: { input: 2, output: 1 },
  handles: (layer) => layer.getClassName() === 'MaxPooling2D' && channelsLast(layer),
  needs: (_layer, analysis) => ({ inputs: [analysis.inputsNeedGradient[0]], output: analysis.inputsNeedGradient[0] }),
  forward: (layer, [input]) => ({ output: layer.apply(input) as tf.Tensor }),
  backward(layer, dy, context) {
    if (!context.inputsNeedGradient[0]) return after(dy, () => [undefined]);
    const input = context.saved.input(0);
    const output = context.saved.output();
    return after([dy, input, output], () => [
      tf.engine().runKernel('MaxPoolGrad', { dy, input, output }, poolAttributes(layer) as never) as tf.Tensor,
    ]);
  },
};

export const averagePoolingRule: LayerRule = {
  kind: 'average-pooling2d',
  workspace: { input: 2, output: 1 },
  handles: (layer) => layer.getClassName() === 'AveragePooling2D' && channelsLast(layer),
  // AvgPoolGrad reads only the input's shape, but every backend's kernel takes the tensor.
  needs: (_layer, analysis) => ({ inputs: [analysis.inputsNeedGradient[0]], output: false }),
  forward: (layer, [input]) => ({ output: layer.apply(input) as tf.Tensor }),
  backward(layer, dy, context) {
    if (!context.inputsNeedGradient[0]) return after(dy, () => [undefined]);
    const input = context.saved.input(0);
    return after([dy, input], () => [tf.engine().runKernel('AvgPoolGrad', { dy, input }, poolAttributes(layer) as never) as tf.Tensor]);
  },
};
