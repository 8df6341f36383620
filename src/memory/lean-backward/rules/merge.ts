// Merging layers: Add (dy to every input), Multiply of two inputs (squeeze-and-excitation's x · se, rebuilt from its inputs
// rather than kept) and Concatenate (dy split along the axis). Inputs of one rank, broadcasting as tfjs-layers does.

import * as tf from '@tensorflow/tfjs';
import { productSumWebgpu } from '../../../kernels/webgpu/channel-sum.ts';
import { fusesOnWebgpu } from '../../../kernels/webgpu/elementwise.ts';
import { inputShapesOf, type Layer, type LayerRule } from '../layer-rule.ts';
import { after, share, sumToShape } from '../tensor-views.ts';

const sameRank = (layer: Layer) => new Set(inputShapesOf(layer).map((shape) => shape.length)).size === 1;
/** Input shapes of this step: the static ones with the batch size of dy. */
const shapesFor = (layer: Layer, batch: number) => inputShapesOf(layer).map((shape) => [batch, ...(shape.slice(1) as number[])]);

export const addRule: LayerRule = {
  kind: 'add',
  workspace: { input: 0, output: 2, forward: 0 },
  handles: (layer) => layer.getClassName() === 'Add' && sameRank(layer),
  needs: (layer) => ({ inputs: inputShapesOf(layer).map(() => false), output: false }),
  forward: (layer, inputs) => ({ output: layer.apply(inputs) as tf.Tensor }),
  backward(layer, dy, context) {
    const shapes = shapesFor(layer, dy.shape[0]);
    return after(dy, () => shapes.map((shape, i) => (context.inputsNeedGradient[i] ? sumToShape(share(dy), shape) : undefined)));
  },
};

export const multiplyRule: LayerRule = {
  kind: 'multiply',
  workspace: { input: 3, output: 0 },
  handles: (layer) => layer.getClassName() === 'Multiply' && sameRank(layer) && inputShapesOf(layer).length === 2,
  // d a = dy · b and d b = dy · a: each input's gradient reads the other input.
  needs: (_layer, analysis) => ({ inputs: [analysis.inputsNeedGradient[1], analysis.inputsNeedGradient[0]], output: false }),
  forward: (layer, inputs) => ({ output: layer.apply(inputs) as tf.Tensor }),
  rebuild: (_layer, [a, b]) => tf.mul(a, b),
  backward(layer, dy, context) {
    const shapes = shapesFor(layer, dy.shape[0]);
    const gradients: Array<tf.Tensor | undefined> = [undefined, undefined];
    // The smaller gradient first (squeeze-and-excitation's [N, 1, 1, C]): it reduces right away, so the full-size one is
    // never alive beside the rebuilt other input.
    const order = [0, 1].sort((a, b) => tf.util.sizeFromShape(shapes[a]) - tf.util.sizeFromShape(shapes[b]));
    for (const i of order) {
      if (!context.inputsNeedGradient[i]) continue;
      const other = context.saved.input(1 - i);
      gradients[i] = after(other, () => productSum(dy, other, shapes[i]) ?? sumToShape(tf.mul(dy, other), shapes[i]));
    }
    dy.dispose();
    return gradients;
  },
};

/** Σ dy·other over the axes `shape` broadcasts along, in one webgpu pass without the product in memory; else undefined. */
function productSum(dy: tf.Tensor, other: tf.Tensor, shape: number[]): tf.Tensor | undefined {
  if (!fusesOnWebgpu(dy, other) || tf.util.arraysEqual(shape, dy.shape)) return undefined;
  return productSumWebgpu(dy, other, tf.backend_util.getReductionAxes(shape, dy.shape), shape);
}

export const concatenateRule: LayerRule = {
  kind: 'concatenate',
  workspace: { input: 1, output: 0, forward: 0 },
  handles: (layer) => layer.getClassName() === 'Concatenate' && sameRank(layer),
  needs: (layer) => ({ inputs: inputShapesOf(layer).map(() => false), output: false }),
  forward: (layer, inputs) => ({ output: layer.apply(inputs) as tf.Tensor }),
  backward(layer, dy, context) {
    const shapes = inputShapesOf(layer);
    const configured = (layer as unknown as { axis: number }).axis;
    const axis = configured < 0 ? dy.rank + configured : configured;
    let start = 0;
    return after(dy, () =>
      shapes.map((shape, i) => {
        const size = shape[axis] as number;
        const begin = dy.shape.map((_, dimension) => (dimension === axis ? start : 0));
        const extent = dy.shape.map((length, dimension) => (dimension === axis ? size : length));
        start += size;
        return context.inputsNeedGradient[i] ? tf.slice(dy, begin, extent) : undefined;
      }),
    );
  },
};
