// Activation layers (Activation with any activation in activation-gradients.ts, and ReLU with an optional maximum), whose
// output is rebuilt from the input when needed: one cheap pass instead of keeping a full-size tensor.

import * as tf from '@tensorflow/tfjs';
import {
  batchNormSwishGradientWebgpu,
  batchNormSwishWebgpu,
  fusesOnWebgpu,
  reluGradientWebgpu,
  reluWebgpu,
} from '../../../kernels/webgpu/elementwise.ts';
import { activationGradient, activationName } from '../activation-gradients.ts';
import type { Layer, LayerRule } from '../layer-rule.ts';
import { after, share } from '../tensor-views.ts';
import { batchNormalizationRule, batchNormMapOf } from './batch-normalization.ts';

const nameOf = (layer: Layer) => activationName((layer as unknown as { activation: unknown }).activation);
const gradientOf = (layer: Layer) => activationGradient(nameOf(layer));

export const activationRule: LayerRule = {
  kind: 'activation',
  workspace: { input: 3, output: 0 },
  handles: (layer) => layer.getClassName() === 'Activation' && gradientOf(layer) !== undefined,
  needs(layer) {
    const { reads } = gradientOf(layer)!;
    return { inputs: [reads === 'input'], output: reads === 'output' };
  },
  forward: (layer, [input]) => ({ output: layer.apply(input) as tf.Tensor }),
  rebuild: (layer, [input]) => layer.apply(input) as tf.Tensor,
  // Swish after BatchNorm on webgpu (most of EfficientNet's activations): rebuilt and differentiated straight from
  // BatchNorm's input, one pass each, and BatchNorm's output is never rebuilt at all.
  fusesRecipeOf: (layer) => (nameOf(layer) === 'swish' && tf.getBackend() === 'webgpu' ? batchNormalizationRule.kind : undefined),
  rebuildFrom(_layer, input) {
    const map = batchNormMapOf(input);
    return map && batchNormSwishWebgpu(map);
  },
  backward(layer, dy, context) {
    const gradient = gradientOf(layer)!;
    if (!context.inputsNeedGradient[0]) return after(dy, () => [undefined]);
    const fused = activationRule.fusesRecipeOf!(layer);
    const unbuilt = fused && fusesOnWebgpu(dy) ? context.saved.unbuiltInput(0, fused) : undefined;
    if (unbuilt) {
      return after([dy, ...unbuilt.inputs, ...unbuilt.extras], () => {
        const map = batchNormMapOf(unbuilt);
        return [map ? batchNormSwishGradientWebgpu(dy, map) : gradient.backward(share(dy), unbuilt.rebuild())];
      });
    }
    const value = gradient.reads === 'input' ? context.saved.input(0) : gradient.reads === 'output' ? context.saved.output() : undefined;
    return [gradient.backward(dy, value)];
  },
};

/** tfjs-layers' ReLU layer: relu(x), clipped to [0, maxValue] when it has one (MobileNet's ReLU(6.)). */
export const reluLayerRule: LayerRule = {
  kind: 'relu',
  workspace: { input: 3, output: 0 },
  handles: (layer) => layer.getClassName() === 'ReLU',
  // relu then clipByValue: tfjs passes the gradient where 0 < x ≤ maxValue, which the output cannot tell at x = maxValue.
  needs: () => ({ inputs: [true], output: false }),
  forward: (layer, [input]) => ({ output: reluOf(layer, input) }),
  rebuild: (layer, [input]) => reluOf(layer, input),
  backward(layer, dy, context) {
    if (!context.inputsNeedGradient[0]) return after(dy, () => [undefined]);
    const input = context.saved.input(0);
    const maxValue = maxValueOf(layer);
    // On webgpu one pass; elsewhere tfjs' ops build the mask (four kernels), then dy times it.
    if (fusesOnWebgpu(dy, input)) return after([dy, input], () => [reluGradientWebgpu(dy, input, maxValue)]);
    const mask = after(input, () =>
      tf.tidy(() => (maxValue == null ? tf.step(input) : tf.mul(tf.step(input), tf.cast(tf.lessEqual(input, maxValue), 'float32')))),
    );
    return after([dy, mask], () => [tf.mul(dy, mask)]);
  },
};

const maxValueOf = (layer: Layer) => (layer as unknown as { maxValue?: number | null }).maxValue ?? null;

/** The layer's output: one pass on webgpu, tfjs-layers' relu then clipByValue elsewhere. */
function reluOf(layer: Layer, input: tf.Tensor): tf.Tensor {
  return fusesOnWebgpu(input) ? reluWebgpu(input, maxValueOf(layer)) : (layer.apply(input) as tf.Tensor);
}
