// Layers that only move values around: Reshape and Flatten (views; their output costs nothing to rebuild) and ZeroPadding2D
// (its gradient is a slice; its output is rebuilt by padding again rather than kept).

import * as tf from '@tensorflow/tfjs';
import { inputShapeFor, type LayerRule } from '../layer-rule.ts';
import { after } from '../tensor-views.ts';

export const reshapeRule: LayerRule = {
  kind: 'reshape',
  workspace: { input: 0, output: 0, forward: 0 },
  handles: (layer) => layer.getClassName() === 'Reshape' || layer.getClassName() === 'Flatten',
  needs: () => ({ inputs: [false], output: false }),
  forward: (layer, [input]) => ({ output: layer.apply(input) as tf.Tensor }),
  rebuild: (layer, [input]) => layer.apply(input) as tf.Tensor,
  backward(layer, dy, context) {
    if (!context.inputsNeedGradient[0]) return after(dy, () => [undefined]);
    return after(dy, () => [tf.reshape(dy, inputShapeFor(layer, dy.shape[0]))]);
  },
};

export const zeroPaddingRule: LayerRule = {
  kind: 'zero-padding2d',
  workspace: { input: 1, output: 0 },
  handles: (layer) =>
    layer.getClassName() === 'ZeroPadding2D' && (layer as unknown as { dataFormat: string }).dataFormat === 'channelsLast',
  needs: () => ({ inputs: [false], output: false }),
  forward: (layer, [input]) => ({ output: layer.apply(input) as tf.Tensor }),
  rebuild: (layer, [input]) => layer.apply(input) as tf.Tensor,
  backward(layer, dy, context) {
    if (!context.inputsNeedGradient[0]) return after(dy, () => [undefined]);
    const [[top], [left]] = (layer as unknown as { padding: [[number, number], [number, number]] }).padding;
    return after(dy, () => [tf.slice(dy, [0, top, left, 0], inputShapeFor(layer, dy.shape[0]))]);
  },
};
