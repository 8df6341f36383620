// BatchNormalization over the last axis, as streamfit's layer runs it: with batch statistics when trainable (the moving
// statistics updated exactly as the layer does), with the moving ones when frozen. The output is rebuilt from the input and
// the batch statistics when needed, so only the input (a convolution's output, kept anyway) stays in memory.

import * as tf from '@tensorflow/tfjs';
import { batchNormBackwardWasm } from '../../../kernels/batch-norm-backward.ts';
import { batchNormalizeByChannel } from '../../../kernels/batch-normalize.ts';
import { fusesOnWasm, holdsOnePerChannel } from '../../../kernels/fuses-on-wasm.ts';
import { runsCompiledKernels } from '../../../kernels/wasm-footprint.ts';
import { batchNormBackwardWebgpu } from '../../../kernels/webgpu/batch-norm-backward.ts';
import { channelMomentsWebgpu } from '../../../kernels/webgpu/channel-moments.ts';
import { type BatchNormMap, batchNormAffineWebgpu, fusesOnWebgpu } from '../../../kernels/webgpu/elementwise.ts';
import {
  type BatchNormalizationFields,
  LeanBatchNormalization,
  movingStatisticsOf,
  updateMovingStatistics,
} from '../../../models/layers.ts';
import { batchNormWithBatchStatistics } from '../../../models/lean-gradients.ts';
import { inputShapesOf, type Layer, type LayerRule, type Unbuilt } from '../layer-rule.ts';
import { after, channelAffine } from '../tensor-views.ts';

const fieldsOf = (layer: Layer) => layer as unknown as BatchNormalizationFields;

/** Streamfit's BatchNormalization normalizes with batch statistics in a training step unless it is frozen. */
const usesBatchStatistics = (layer: Layer) => layer.trainable;

/** γ, or ones for a layer without it (scale: false, as in InceptionV3), as the layer itself does. The caller disposes it if made. */
const gammaOf = (fields: BatchNormalizationFields) => fields.gamma?.read() ?? tf.onesLike(fields.beta!.read());

/**
 * The layer's output as the per-channel map of its input that the webgpu kernels apply (src/kernels/webgpu/elementwise.ts),
 * where they apply. Called inside a tidy scope, which disposes the ones made for a layer without γ.
 */
function webgpuMap(layer: Layer, input: tf.Tensor, extras: tf.Tensor[]): BatchNormMap | undefined {
  if (!fusesOnWebgpu(input)) return undefined;
  const fields = fieldsOf(layer);
  const [mean, variance] = usesBatchStatistics(layer) ? extras : [fields.movingMean.read(), fields.movingVariance.read()];
  return { x: input, mean, variance, gamma: gammaOf(fields), beta: fields.beta!.read(), epsilon: fields.epsilon };
}

/** A BatchNorm layer's output, unrun, as the webgpu kernels' map of its input; undefined for any other recipe or backend. */
export function batchNormMapOf(unbuilt: Unbuilt): BatchNormMap | undefined {
  return unbuilt.kind === batchNormalizationRule.kind ? webgpuMap(unbuilt.layer, unbuilt.inputs[0], unbuilt.extras) : undefined;
}

export const batchNormalizationRule: LayerRule = {
  kind: 'batch-normalization',
  // Training: tf.moments holds x − mean and its square; inference is one kernel. On wasm the compiled kernels hold none of
  // x̂ and its products: the backward pass holds dx, the forward pass the per-channel statistics (bench/lean-workspace.ts,
  // B0 at 224 px, batch 2: 0.5 and 0.01 of the tfjs ops' factors).
  workspace: (layer) =>
    runsCompiledKernels()
      ? { input: 1, output: 0, forward: usesBatchStatistics(layer) ? 0.02 : 0 }
      : { input: 2, output: 0, forward: usesBatchStatistics(layer) ? 2 : 0 },
  handles(layer) {
    if (!(layer instanceof LeanBatchNormalization)) return false;
    const fields = fieldsOf(layer);
    const rank = inputShapesOf(layer)[0].length;
    return (fields.axis === -1 || fields.axis === rank - 1) && fields.beta !== undefined && fields.beta !== null;
  },
  needs(layer) {
    // Frozen: dx = dy · γ/σ reads nothing. Training: x̂ is needed for dγ and dx.
    return { inputs: [usesBatchStatistics(layer)], output: false };
  },
  forward(layer, [input], state) {
    if (!usesBatchStatistics(layer)) return { output: layer.apply(input, { training: true }) as tf.Tensor };
    const fields = fieldsOf(layer);
    const moving = state.updateStatistics ? movingStatisticsOf(fields) : undefined;
    const { output, mean, variance, movingUpdated } = batchNormWithBatchStatistics(
      input,
      gammaOf(fields),
      fields.beta!.read(),
      fields.epsilon,
      moving,
    );
    if (state.updateStatistics && !movingUpdated) updateMovingStatistics(fields, mean, variance);
    return { output, extras: [mean, variance] };
  },
  defers: (layer) => tf.getBackend() === 'webgpu' && inputShapesOf(layer)[0].length > 1,
  forwardDeferred(layer, [input], state) {
    if (!fusesOnWebgpu(input)) return undefined;
    if (!usesBatchStatistics(layer)) return { extras: [] };
    // batchNormWithBatchStatistics' statistics on webgpu, whose output is this rule's rebuild.
    const moving = state.updateStatistics ? movingStatisticsOf(fieldsOf(layer)) : undefined;
    const { mean, variance } = channelMomentsWebgpu(input, moving);
    return { extras: [mean, variance] };
  },
  rebuild(layer, [input], extras) {
    // The normalization as one per-channel affine map (y = x·s + o), whose values differ from the forward pass's by rounding
    // only; on wasm the forward pass's own compiled FusedBatchNorm, one call.
    const fields = fieldsOf(layer);
    // One dispatch instead of seven.
    const map = webgpuMap(layer, input, extras);
    if (map) return batchNormAffineWebgpu(map);
    const [mean, variance] = usesBatchStatistics(layer) ? extras : [fields.movingMean.read(), fields.movingVariance.read()];
    const [beta, gamma] = [fields.beta!.read(), fields.gamma?.read()];
    const perChannel = [mean, variance, beta, ...(gamma ? [gamma] : [])];
    if (fusesOnWasm(input, ...perChannel) && holdsOnePerChannel(input, ...perChannel)) {
      // One kernel call instead of seven, and the forward pass's values exactly.
      return batchNormalizeByChannel(input, mean, variance, beta, gamma, fields.epsilon);
    }
    const [scale, offset] = tf.tidy(() => {
      const scale = tf.mul(gammaOf(fields), tf.rsqrt(tf.add(variance, fields.epsilon)));
      return [scale, tf.sub(fields.beta!.read(), tf.mul(mean, scale))];
    });
    return after([scale, offset], () => channelAffine(input, scale, offset));
  },
  backward(layer, dy, context) {
    const fields = fieldsOf(layer);
    if (!usesBatchStatistics(layer)) {
      // Inference mode: the moving statistics are constants, so dx = dy · γ / sqrt(moving variance + ε).
      if (!context.inputsNeedGradient[0]) return after(dy, () => [undefined]);
      const scale = tf.tidy(() => tf.mul(gammaOf(fields), tf.rsqrt(tf.add(fields.movingVariance.read(), fields.epsilon))));
      return after([dy, scale], () => [tf.mul(dy, scale)]);
    }
    // With x̂ = (x − mean)/σ over all axes but the last (n values per channel): dβ = Σdy, dγ = Σdy·x̂ and
    // dx = γ/σ · (dy − dβ/n − x̂·dγ/n), computed as (γ/σ)·dy + [(−γ/σ·dγ/n)·x̂ + (−γ/σ·dβ/n)] so that at most three
    // full-size tensors are alive at once.
    const axes = dy.shape.slice(0, -1).map((_, axis) => axis);
    const count = dy.size / dy.shape[dy.rank - 1];
    const [mean, variance] = [context.saved.extra(0), context.saved.extra(1)];
    const input = context.saved.input(0);
    if (fusesOnWebgpu(dy)) {
      // Four dispatches instead of about twenty: on a GPU the step is bound by the host's cost per dispatch.
      const gamma = gammaOf(fields);
      const gradients = batchNormBackwardWebgpu(dy, input, mean, variance, gamma, fields.epsilon, context.inputsNeedGradient[0]);
      if (!fields.gamma) gamma.dispose();
      tf.dispose([dy, input, mean, variance]);
      deliverParameterGradients(context, fields, gradients.dGamma, gradients.dBeta);
      return [gradients.dx];
    }
    const gamma = fields.gamma?.read();
    const perChannel = [mean, variance, ...(gamma ? [gamma] : [])];
    if (fusesOnWasm(dy, input, ...perChannel) && holdsOnePerChannel(input, ...perChannel)) {
      // One compiled kernel call instead of about sixteen, in the operation order below; it holds dx and no other full-size tensor.
      const gradients = batchNormBackwardWasm(dy, input, mean, variance, gamma, fields.epsilon, context.inputsNeedGradient[0]);
      tf.dispose([dy, input, mean, variance]);
      deliverParameterGradients(context, fields, gradients.dGamma, gradients.dBeta);
      return [gradients.dx];
    }
    const [inverseDeviation, shift] = tf.tidy(() => {
      const inverse = tf.rsqrt(tf.add(variance, fields.epsilon));
      return [inverse, tf.neg(tf.mul(mean, inverse))];
    });
    const normalized = after([input, inverseDeviation, shift], () => channelAffine(input, inverseDeviation, shift));
    const dBeta = tf.sum(dy, axes) as tf.Tensor1D;
    const product = tf.mul(dy, normalized);
    const dGamma = after(product, () => tf.sum(product, axes) as tf.Tensor1D);
    let inputGradient: tf.Tensor | undefined;
    if (context.inputsNeedGradient[0]) {
      const [dyScale, normalizedScale, offset] = tf.tidy(() => {
        const scale = tf.mul(gammaOf(fields), tf.rsqrt(tf.add(variance, fields.epsilon)));
        return [scale, tf.neg(tf.mul(scale, tf.div(dGamma, count))), tf.neg(tf.mul(scale, tf.div(dBeta, count)))] as tf.Tensor1D[];
      });
      // Ordered so that dy, x̂ or their products make at most three full-size tensors at once.
      const scaledNormalized = after([normalized, normalizedScale], () => tf.mul(normalized, normalizedScale));
      const fromNormalized = after([scaledNormalized, offset], () => tf.add(scaledNormalized, offset));
      const fromDy = after([dy, dyScale], () => tf.mul(dy, dyScale));
      inputGradient = after([fromDy, fromNormalized], () => tf.add(fromDy, fromNormalized));
    } else {
      tf.dispose([normalized, dy]);
    }
    tf.dispose([mean, variance]);
    deliverParameterGradients(context, fields, dGamma, dBeta);
    return [inputGradient];
  },
};

/** Hands dγ and dβ to the variables that want them, disposing the others. */
function deliverParameterGradients(
  context: Parameters<LayerRule['backward']>[2],
  fields: BatchNormalizationFields,
  dGamma: tf.Tensor1D,
  dBeta: tf.Tensor1D,
): void {
  if (fields.gamma && context.wants(fields.gamma)) context.deliver(fields.gamma, dGamma);
  else dGamma.dispose();
  if (context.wants(fields.beta!)) context.deliver(fields.beta!, dBeta);
  else dBeta.dispose();
}
