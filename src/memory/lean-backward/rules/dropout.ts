// Dropout and stochastic depth (Dropout with noise shape [N, 1, 1, 1]): the mask is drawn as tf.dropout draws it (same
// seed, same mask, so a recomputed segment drops the same units) and kept, which for stochastic depth is one number per
// sample; the output is rebuilt as x · mask when needed. Streamfit's Dropout is off when frozen.

import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { FineTuneDropout } from '../../../models/layers.ts';
import type { Layer, LayerRule } from '../layer-rule.ts';
import { after, share } from '../tensor-views.ts';

interface DropoutFields {
  rate: number;
  seed?: number;
  getNoiseShape(input: tf.Tensor): number[] | null | undefined;
}

const fieldsOf = (layer: Layer) => layer as unknown as DropoutFields;

function isActive(layer: Layer): boolean {
  const { rate } = fieldsOf(layer);
  return rate > 0 && rate < 1 && (!(layer instanceof FineTuneDropout) || layer.trainable);
}

/** tfjs-core's getNoiseShape: the layer's noise shape with unknown sizes taken from the input. */
function noiseShapeOf(layer: Layer, input: tf.Tensor): number[] {
  const configured = fieldsOf(layer).getNoiseShape(input);
  if (!configured) return input.shape.slice();
  return configured.map((size, axis) => size ?? input.shape[axis]);
}

/**
 * tf.dropout's multiplier, floor(uniform + keep) / keep, computed on the host in float32 as the cpu backend computes it,
 * from the uniforms tf.randomUniform draws (seedrandom's alea, as tfjs-core seeds it): one upload of the finished mask
 * instead of the uniforms, two scalars and three kernels (on webgpu, three dispatches a layer every step).
 */
export function dropoutMask(shape: number[], rate: number, seed?: number): tf.Tensor {
  const keep = Math.fround(1 - rate);
  const random = seedrandom.alea(String(seed ?? Math.random()));
  const mask = new Float32Array(tf.util.sizeFromShape(shape));
  for (let i = 0; i < mask.length; i++) mask[i] = Math.floor(Math.fround(Math.fround(random()) + keep)) / keep;
  return tf.tensor(mask, shape);
}

export const dropoutRule: LayerRule = {
  kind: 'dropout',
  workspace: { input: 1, output: 0, forward: 0 },
  handles: (layer) => layer.getClassName() === 'Dropout',
  needs: () => ({ inputs: [false], output: false }),
  forward(layer, [input]) {
    if (!isActive(layer)) return { output: share(input) };
    const { rate, seed } = fieldsOf(layer);
    const mask = dropoutMask(noiseShapeOf(layer, input), rate, seed);
    return { output: tf.mul(input, mask), extras: [mask] };
  },
  rebuild: (layer, [input], extras) => (isActive(layer) ? tf.mul(input, extras[0]) : share(input)),
  backward(layer, dy, context) {
    if (!context.inputsNeedGradient[0]) return after(dy, () => [undefined]);
    if (!isActive(layer)) return [dy];
    const mask = context.saved.extra(0);
    return after([dy, mask], () => [tf.mul(dy, mask)]);
  },
  extraElements(layer) {
    if (!isActive(layer)) return 0;
    const noise = fieldsOf(layer).getNoiseShape({ shape: layer.outputShape } as unknown as tf.Tensor);
    const shape = (noise ?? (layer.outputShape as Array<number | null>)).slice(1);
    return shape.reduce<number>((product, size) => product * (size ?? 1), 1);
  },
};
