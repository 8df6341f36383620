// Layers no rule covers: the forward runs the layer as it is; the backward step reruns it under tfjs' tape with the upstream
// gradient (tf.engine().gradients(f, xs, dy)), which keeps the layer's inputs until then, as recomputation does for a
// segment. State a rerun would change (non-trainable weights) is restored; a layer that draws random numbers in its
// forward pass would draw new ones in the rerun.

import * as tf from '@tensorflow/tfjs';
import type { Layer, LayerRule } from '../layer-rule.ts';

function snapshotState(layer: Layer): () => void {
  const saved = layer.nonTrainableWeights.map((weight) => [weight, weight.read().clone()] as const);
  return () => {
    for (const [weight, value] of saved) {
      weight.write(value);
      value.dispose();
    }
  };
}

const applyTo = (layer: Layer, inputs: tf.Tensor[]) =>
  layer.apply(inputs.length === 1 ? inputs[0] : inputs, { training: true }) as tf.Tensor;

export const autodiffFallbackRule: LayerRule = {
  kind: 'autodiff',
  workspace: { input: 4, output: 4 },
  handles: () => true,
  needs: (layer) => ({ inputs: [layer.inboundNodes[0].inboundLayers].flat().map(() => true), output: false }),
  forward(layer, inputs, state) {
    const restore = state.updateStatistics ? () => {} : snapshotState(layer);
    try {
      return { output: applyTo(layer, inputs) };
    } finally {
      restore();
    }
  },
  backward(layer, dy, context) {
    const count = [layer.inboundNodes[0].inboundLayers].flat().length;
    const inputs = Array.from({ length: count }, (_, i) => context.saved.input(i));
    const variables = layer.trainableWeights.filter((weight) => context.wants(weight));
    const xs = [...inputs.filter((_, i) => context.inputsNeedGradient[i]), ...variables.map((weight) => weight.read())];
    const restore = snapshotState(layer);
    try {
      if (xs.length === 0) return inputs.map(() => undefined);
      const { value, grads } = tf.engine().gradients(() => applyTo(layer, inputs), xs, dy, true);
      value.dispose();
      let next = 0;
      const inputGradients = inputs.map((_, i) => (context.inputsNeedGradient[i] ? grads[next++] : undefined));
      for (const weight of variables) context.deliver(weight, grads[next++]);
      return inputGradients;
    } finally {
      restore();
      tf.dispose([...inputs, dy]);
    }
  },
};
