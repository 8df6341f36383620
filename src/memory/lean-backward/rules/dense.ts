// Dense on [batch, features] inputs: dW = xᵀ·dz, db = Σdz, dx = dz·Wᵀ, with the activation's derivative read from the
// output (softmax for the classifier, relu…).

import * as tf from '@tensorflow/tfjs';
import { activationGradient, activationName } from '../activation-gradients.ts';
import { inputShapesOf, type Layer, type LayerRule } from '../layer-rule.ts';
import { after } from '../tensor-views.ts';

interface DenseFields {
  kernel: tf.LayerVariable;
  bias?: tf.LayerVariable | null;
  activation?: unknown;
}

const fieldsOf = (layer: Layer) => layer as unknown as DenseFields;
const gradientOf = (layer: Layer) => activationGradient(activationName(fieldsOf(layer).activation));

export const denseRule: LayerRule = {
  kind: 'dense',
  workspace: { input: 2, output: 3 },
  handles(layer) {
    const reads = gradientOf(layer)?.reads;
    // An activation read from its input would need the pre-activation, which tfjs-layers does not expose.
    return layer.getClassName() === 'Dense' && inputShapesOf(layer)[0].length === 2 && reads !== undefined && reads !== 'input';
  },
  needs(layer, analysis) {
    return { inputs: [analysis.wants(fieldsOf(layer).kernel)], output: gradientOf(layer)!.reads === 'output' };
  },
  forward: (layer, [input]) => ({ output: layer.apply(input) as tf.Tensor }),
  backward(layer, dy, context) {
    const { kernel, bias } = fieldsOf(layer);
    const gradient = gradientOf(layer)!;
    const dz = gradient.backward(dy, gradient.reads === 'output' ? context.saved.output() : undefined);
    return after(dz, () => {
      if (bias && context.wants(bias)) context.deliver(bias, tf.sum(dz, 0));
      if (context.wants(kernel)) {
        const input = context.saved.input(0);
        context.deliver(
          kernel,
          after(input, () => tf.matMul(input as tf.Tensor2D, dz as tf.Tensor2D, true, false)),
        );
      }
      return [context.inputsNeedGradient[0] ? tf.matMul(dz as tf.Tensor2D, kernel.read() as tf.Tensor2D, false, true) : undefined];
    });
  },
};
