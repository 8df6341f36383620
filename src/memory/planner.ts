// The memory planner: device bytes of a training step from the built model (parameters, gradients, accumulators, optimizer
// slots, activations kept for the backward pass), and the micro-batch / accumulation / recomputation that fit a budget.

import type * as tf from '@tensorflow/tfjs';
import { segmentModel } from './segments.ts';

/**
 * Bytes tfjs keeps per byte of layer output during a training step. Its autodiff saves the inputs of every elementwise op inside
 * a layer (BatchNorm's statistics, swish's sigmoid, the SE product) until the backward pass, and layer outputs stay alive to the
 * end of the forward scope. Measured on EfficientNet-B0 (wasm and cpu count bytes the same way): see bench/plan and test/planner.
 */
export const activationFactor = 7.37;
/** The same for the one segment being recomputed at a time (its output is not kept past the segment, hence a little less). */
export const recomputeFactor = 6.9;
/** Share of the largest layer's activations that the backward pass holds at once on top (dy, dx and their temporaries). */
export const workspaceFactor = 4;

export type OptimizerName = 'adam' | 'adamw' | 'sgd' | 'rmsprop';

export interface MemoryBreakdown {
  params: number;
  grads: number;
  accumulators: number;
  optimizer: number;
  activations: number;
  workspace: number;
}

export interface StepEstimate {
  microBatch: number;
  recompute: boolean;
  breakdown: MemoryBreakdown;
  predictedPeakBytes: number;
}

const optimizerSlots: Record<OptimizerName, number> = { adam: 2, adamw: 2, rmsprop: 2, sgd: 1 };

function elements(shape: ReadonlyArray<number | null>): number {
  return shape.reduce<number>((product, size) => product * (size ?? 1), 1);
}

function layerOutputElements(layer: tf.layers.Layer): number {
  const shape = layer.outputShape as Array<number | null> | Array<Array<number | null>>;
  return Array.isArray(shape[0]) ? (shape as Array<Array<number | null>>).reduce((sum, s) => sum + elements(s), 0) : elements(shape as Array<number | null>);
}

export interface ModelMemoryProfile {
  paramBytes: number;
  trainableBytes: number;
  /** Per sample: bytes of every layer output; of segment-boundary outputs; of the largest segment's layer outputs; of the largest layer. */
  outputBytesPerSample: number;
  boundaryBytesPerSample: number;
  largestSegmentBytesPerSample: number;
  largestLayerBytesPerSample: number;
  canRecompute: boolean;
}

/** Reads sizes off the built model: weight shapes and every layer's output shape at the model's input size. */
export function profileModel(model: tf.LayersModel): ModelMemoryProfile {
  const paramBytes = model.weights.reduce((sum, weight) => sum + elements(weight.shape) * 4, 0);
  const trainableBytes = model.trainableWeights.reduce((sum, weight) => sum + elements(weight.shape) * 4, 0);
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  const outputBytesPerSample = layers.reduce((sum, layer) => sum + layerOutputElements(layer) * 4, 0);
  const largestLayerBytesPerSample = Math.max(...layers.map((layer) => layerOutputElements(layer) * 4));
  const segments = segmentModel(model);
  const canRecompute = segments.length >= 3 && segments.some((segment) => segment.name.startsWith('block'));
  const byName = new Map(layers.map((layer) => [layer.name, layer]));
  const boundaryBytesPerSample = segments.reduce((sum, segment) => sum + layerOutputElements(byName.get(segment.outputName)!) * 4, 0);
  const largestSegmentBytesPerSample = Math.max(...segments.map((segment) => segment.layers.reduce((sum, layer) => sum + layerOutputElements(layer) * 4, 0)));
  return { paramBytes, trainableBytes, outputBytesPerSample, boundaryBytesPerSample, largestSegmentBytesPerSample, largestLayerBytesPerSample, canRecompute };
}

export function estimateStep(profile: ModelMemoryProfile, microBatch: number, optimizer: OptimizerName, recompute: boolean): StepEstimate {
  const activationsPerSample = recompute
    ? profile.boundaryBytesPerSample + recomputeFactor * profile.largestSegmentBytesPerSample
    : activationFactor * profile.outputBytesPerSample;
  const breakdown: MemoryBreakdown = {
    params: profile.paramBytes,
    grads: profile.trainableBytes,
    accumulators: profile.trainableBytes,
    optimizer: optimizerSlots[optimizer] * profile.trainableBytes,
    activations: Math.round(activationsPerSample * microBatch),
    workspace: Math.round(workspaceFactor * profile.largestLayerBytesPerSample * microBatch),
  };
  const predictedPeakBytes = Object.values(breakdown).reduce((sum, bytes) => sum + bytes, 0);
  return { microBatch, recompute, breakdown, predictedPeakBytes };
}

export interface Plan extends StepEstimate {
  accumulate: number;
  budgetBytes: number;
  batch: number;
  fits: boolean;
}

/**
 * The largest micro-batch dividing `batch` that fits the budget, without recomputation if that gives at least
 * min(batch, 8) (recomputation costs about a third more compute), else with it when it allows a larger micro-batch.
 */
export function planMemory(profile: ModelMemoryProfile, budgetBytes: number, batch: number, optimizer: OptimizerName): Plan {
  const divisors = Array.from({ length: batch }, (_, i) => batch - i).filter((size) => batch % size === 0);
  const largest = (recompute: boolean) => divisors.map((size) => estimateStep(profile, size, optimizer, recompute)).find((estimate) => estimate.predictedPeakBytes <= budgetBytes);
  const plain = largest(false);
  const withRecompute = profile.canRecompute ? largest(true) : undefined;
  let chosen = plain;
  if (withRecompute && (!plain || (plain.microBatch < Math.min(batch, 8) && withRecompute.microBatch > plain.microBatch))) chosen = withRecompute;
  if (!chosen) {
    const smallest = estimateStep(profile, 1, optimizer, profile.canRecompute);
    return { ...smallest, accumulate: batch, budgetBytes, batch, fits: false };
  }
  return { ...chosen, accumulate: batch / chosen.microBatch, budgetBytes, batch, fits: true };
}
