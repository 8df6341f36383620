// The memory planner: device bytes of a training step from the built model (parameters, gradients, accumulators, optimizer
// slots, activations kept for the backward pass), and the micro-batch / accumulation / recomputation that fit a budget.

import type * as tf from '@tensorflow/tfjs';
import { fusedUpdateTransient, runsCompiledKernels } from '../kernels/wasm-footprint.ts';
import { pendingFreedBytesOnBackend, runsWebgpuUpdate, webgpuUpdateTransient } from '../kernels/webgpu/footprint.ts';
import { UnsupportedGraph } from './lean-backward/layer-graph.ts';
import { LeanBackward } from './lean-backward/lean-step.ts';
import { type ActivationEstimate, estimateGraphMemory, estimateRecomputedMemory } from './lean-backward/memory-estimate.ts';
import { segmentModel } from './segments.ts';

// The lean backward pass (the trainer's default) is planned from its own retention decisions and measured workspace
// factors (lean-backward/memory-estimate.ts). The factors below are for tfjs' autodiff (TrainerOptions.backward
// 'autodiff', and models the lean pass does not take).

/**
 * Bytes a training step keeps per byte of layer output. tfjs' tape keeps what each op saves for its gradient and, in the
 * backward pass, every intermediate gradient until the step ends; with BatchNorm and swish as single ops (lean-gradients.ts)
 * that comes to about 2.5. Measured on EfficientNet-B0 at 128 and 224 px and B3 at 300 px on wasm (cpu counts bytes the same
 * way), all three within 1 %: see test/planner.test.ts.
 */
export const activationFactor = 2.49;
/**
 * The same for the one segment being rerun at a time under recomputation. Higher than the plain factor: the rerun segment's
 * tensors, its gradients and the upstream gradient are alive together. Measured 2.8 (B0) to 3.5 (B3); 3.2 keeps all within 8 %.
 */
export const recomputeFactor = 3.2;
/** Share of the largest layer's activations that the backward pass holds at once on top (dy, dx and their temporaries). */
export const workspaceFactor = 4;
/**
 * Layer kinds EfficientNet lacks keep more per byte of output than its conv–BatchNorm–swish mix, which the factors above
 * were measured on: their outputs count this many times. Measured on wasm with scripts/measure-layer-kinds.ts (stacks of six
 * at 32 and 48 px, each against the plain stack in the same run; the two sizes agree within 0.5 %). A ReLU activation keeps
 * what swish does (weight 1). Rerun the script when the backward pass changes.
 */
export const layerKindWeights: Readonly<Record<string, number>> = {
  'Conv2D:relu': 2.31, // VGG's convolution with its ReLU fused: dy, step(y) and their product at the output's size on top
  'ReLU:clipped': 1.76, // MobileNetV2's ReLU6: relu, then clipByValue keeping its own input and masks
  MaxPooling2D: 1.14,
  AveragePooling2D: 1.14,
  Concatenate: 1.33, // its gradient slices dy into new tensors
};

export type OptimizerName = 'adam' | 'adamw' | 'sgd' | 'rmsprop';

export interface MemoryBreakdown {
  params: number;
  grads: number;
  accumulators: number;
  optimizer: number;
  activations: number;
  workspace: number;
  /** What the optimizer update holds beyond the backward pass's peak (lean backward only; 0 when the backward pass is higher). */
  update?: number;
}

export interface StepEstimate {
  microBatch: number;
  recompute: boolean;
  breakdown: MemoryBreakdown;
  predictedPeakBytes: number;
}

const optimizerSlots: Record<OptimizerName, number> = { adam: 2, adamw: 2, rmsprop: 2, sgd: 1 };

/**
 * Bytes the update holds at its peak per trainable byte: the trainer's scaled gradients, and tfjs' optimizer, which keeps
 * every temporary of every variable until its applyGradients ends (Adam: about 14 per variable). Measured on wasm with
 * tfjs 4.22's optimizers (SGD with momentum 1.4).
 */
const updateTransient: Record<OptimizerName, number> = { adam: 15, adamw: 15, rmsprop: 2.6, sgd: 1.4 };

function updateTransientOnBackend(optimizer: OptimizerName): number {
  if (runsCompiledKernels()) return fusedUpdateTransient;
  if (runsWebgpuUpdate()) return webgpuUpdateTransient;
  return updateTransient[optimizer];
}

/** Per sample: the largest layer output of the model. */
function largestLayerBytes(profile: ModelMemoryProfile): number {
  return Math.max(...profile.segments.map((segment) => segment.largestLayerBytes));
}

function elements(shape: ReadonlyArray<number | null>): number {
  return shape.reduce<number>((product, size) => product * (size ?? 1), 1);
}

/** The model's largest layer output, in bytes a sample (the trainer's early-submit bound on webgpu scales with it). */
export function largestOutputBytesPerSample(model: tf.LayersModel): number {
  return Math.max(0, ...model.layers.map((layer) => layerOutputElements(layer) * 4));
}

function layerOutputElements(layer: tf.layers.Layer): number {
  const shape = layer.outputShape as Array<number | null> | Array<Array<number | null>>;
  return Array.isArray(shape[0])
    ? (shape as Array<Array<number | null>>).reduce((sum, s) => sum + elements(s), 0)
    : elements(shape as Array<number | null>);
}

interface SegmentSizes {
  /**
   * Per sample: bytes of all the segment's layer outputs (weighted by layerKindWeights), and of its last output (the
   * boundary kept under recomputation).
   */
  outputBytes: number;
  boundaryBytes: number;
  largestLayerBytes: number;
  trainable: boolean;
}

export interface ModelMemoryProfile {
  paramBytes: number;
  trainableBytes: number;
  segments: SegmentSizes[];
  canRecompute: boolean;
  /** Per-sample estimates for the lean backward pass; absent when it does not take the model (autodiff is planned). */
  lean?: { plain: ActivationEstimate; recomputed?: ActivationEstimate; largestWeightBytes: number };
}

/** A layer's class, with its activation where one is fused in or chosen ('Conv2D:relu', 'Activation:swish', 'ReLU:clipped'). */
export function layerKind(layer: tf.layers.Layer): string {
  const kind = layer.getClassName();
  if (kind === 'ReLU') return (layer as unknown as { maxValue?: number | null }).maxValue == null ? kind : `${kind}:clipped`;
  const activation = (layer as unknown as { activation?: { getClassName(): string } }).activation?.getClassName();
  return activation && activation !== 'linear' ? `${kind}:${activation}` : kind;
}

/** Reads sizes off the built model: weight shapes and every layer's output shape at the model's input size. */
export function profileModel(model: tf.LayersModel): ModelMemoryProfile {
  const paramBytes = model.weights.reduce((sum, weight) => sum + elements(weight.shape) * 4, 0);
  const trainableBytes = model.trainableWeights.reduce((sum, weight) => sum + elements(weight.shape) * 4, 0);
  const segments = segmentModel(model).map((segment) => {
    const sizes = segment.layers.map((layer) => layerOutputElements(layer) * 4);
    const kept = segment.layers.map((layer, i) => sizes[i] * (layerKindWeights[layerKind(layer)] ?? 1));
    return {
      outputBytes: kept.reduce((sum, bytes) => sum + bytes, 0),
      boundaryBytes: sizes.at(-1)!,
      largestLayerBytes: Math.max(...sizes),
      trainable: segment.variables.length > 0,
    };
  });
  const canRecompute = segments.length >= 3;
  return { paramBytes, trainableBytes, segments, canRecompute, lean: leanProfile(model, canRecompute) };
}

function leanProfile(model: tf.LayersModel, canRecompute: boolean): ModelMemoryProfile['lean'] {
  const lean = new LeanBackward(model);
  try {
    return {
      plain: estimateGraphMemory(lean.graph()),
      recomputed: canRecompute ? estimateRecomputedMemory(lean.segmentGraphs()) : undefined,
      largestWeightBytes: Math.max(0, ...model.trainableWeights.map((weight) => elements(weight.shape) * 4)),
    };
  } catch (error) {
    if (error instanceof UnsupportedGraph) return undefined;
    throw error;
  }
}

/**
 * Only segments from the lowest trainable one up are under the gradient tape (the trainer runs a frozen prefix without it), so
 * a frozen backbone keeps no activations. Without recomputation those segments keep everything; with it, their boundaries plus
 * the one segment being rerun.
 */
export function estimateStep(profile: ModelMemoryProfile, microBatch: number, optimizer: OptimizerName, recompute: boolean): StepEstimate {
  if (profile.lean) return estimateLeanStep(profile, profile.lean, microBatch, optimizer, recompute);
  const lowest = Math.max(
    0,
    profile.segments.findIndex((segment) => segment.trainable),
  );
  const taped = profile.segments.slice(lowest);
  const activationsPerSample = recompute
    ? taped.reduce((sum, segment) => sum + segment.boundaryBytes, 0) +
      recomputeFactor * Math.max(...taped.map((segment) => segment.outputBytes))
    : activationFactor * taped.reduce((sum, segment) => sum + segment.outputBytes, 0);
  const breakdown: MemoryBreakdown = {
    params: profile.paramBytes,
    grads: profile.trainableBytes,
    accumulators: profile.trainableBytes,
    optimizer: optimizerSlots[optimizer] * profile.trainableBytes,
    activations: Math.round(activationsPerSample * microBatch),
    workspace:
      Math.round(workspaceFactor * largestLayerBytes(profile) * microBatch) +
      pendingFreedBytesOnBackend(largestLayerBytes(profile) * microBatch),
  };
  const predictedPeakBytes = Object.values(breakdown).reduce((sum, bytes) => sum + bytes, 0);
  return { microBatch, recompute, breakdown, predictedPeakBytes };
}

/**
 * The lean backward pass adds each weight gradient into its accumulator as soon as it is computed, so gradients cost one
 * layer's worth (the gradient and the sum being formed) instead of a copy of all of them.
 */
function estimateLeanStep(
  profile: ModelMemoryProfile,
  lean: NonNullable<ModelMemoryProfile['lean']>,
  microBatch: number,
  optimizer: OptimizerName,
  recompute: boolean,
): StepEstimate {
  const estimate = recompute && lean.recomputed ? lean.recomputed : lean.plain;
  const backward = {
    // On webgpu the chunk's gradients wait for the device's word before they are added (src/train/trainer.ts).
    grads: runsWebgpuUpdate() ? profile.trainableBytes : 2 * lean.largestWeightBytes,
    activations: Math.round(estimate.keptBytes * microBatch),
    // On webgpu, freed buffers that wait for a submit count too (up to the early-submit threshold).
    workspace:
      Math.round((estimate.peakBytes - estimate.keptBytes) * microBatch) +
      pendingFreedBytesOnBackend(largestLayerBytes(profile) * microBatch),
  };
  const backwardBytes = backward.grads + backward.activations + backward.workspace;
  const breakdown: MemoryBreakdown = {
    params: profile.paramBytes,
    accumulators: profile.trainableBytes,
    optimizer: optimizerSlots[optimizer] * profile.trainableBytes,
    ...backward,
    // The update runs after the backward pass has freed its activations: the step peaks at the higher of the two.
    // On wasm the update is one fused call (src/kernels/fused-update.ts) without tfjs' per-variable temporaries; on webgpu
    // in-place dispatches that also read the accumulators unscaled.
    update: Math.max(0, Math.round(updateTransientOnBackend(optimizer) * profile.trainableBytes) - backwardBytes),
  };
  const predictedPeakBytes = Object.values(breakdown).reduce((sum, bytes) => sum + bytes, 0);
  return { microBatch, recompute, breakdown, predictedPeakBytes };
}

/**
 * Host bytes of N data-parallel workers (src/train/workers): each worker holds its own model, accumulators and its
 * micro-batch's backward pass; the main thread holds the authoritative weights, accumulators, optimizer slots and the
 * update; the shared buffers are one copy of the weights and a gradient slot per worker.
 */
export interface WorkersEstimate {
  workers: number;
  perWorkerBytes: number;
  mainBytes: number;
  sharedBytes: number;
  totalBytes: number;
}

export function estimateWorkers(
  step: StepEstimate,
  profile: ModelMemoryProfile,
  optimizer: OptimizerName,
  workers: number,
): WorkersEstimate {
  if (workers <= 1)
    return { workers: 1, perWorkerBytes: step.predictedPeakBytes, mainBytes: 0, sharedBytes: 0, totalBytes: step.predictedPeakBytes };
  const { params, accumulators, activations, workspace, grads } = step.breakdown;
  const perWorkerBytes = params + accumulators + grads + activations + workspace;
  const transient = runsCompiledKernels() ? fusedUpdateTransient : updateTransient[optimizer];
  const mainBytes =
    params + accumulators + optimizerSlots[optimizer] * profile.trainableBytes + Math.round(transient * profile.trainableBytes);
  const sharedBytes = profile.paramBytes + workers * profile.trainableBytes;
  return { workers, perWorkerBytes, mainBytes, sharedBytes, totalBytes: workers * perWorkerBytes + mainBytes + sharedBytes };
}

export interface Plan extends StepEstimate {
  /** Micro-batches per optimizer update: batchSize / microBatch. */
  accumulate: number;
  budgetBytes: number;
  /** Samples per optimizer update (the effective batch). */
  batchSize: number;
  fits: boolean;
  /** With two or more workers: per worker and in total (then what `fits` compares with the budget). */
  workers?: WorkersEstimate;
}

/**
 * The largest micro-batch dividing `batchSize` that fits the budget, without recomputation if that gives at least
 * min(batchSize, 8) (recomputation costs about a third more compute), else with it when it allows a larger micro-batch.
 * With N workers every update must have at least N micro-batches, and N workers' bytes must fit (estimateWorkers).
 */
export function planMemory(
  profile: ModelMemoryProfile,
  budgetBytes: number,
  batchSize: number,
  optimizer: OptimizerName,
  workers = 1,
): Plan {
  const divisors = Array.from({ length: batchSize }, (_, i) => batchSize - i).filter(
    (size) => batchSize % size === 0 && batchSize / size >= Math.min(workers, batchSize),
  );
  const total = (estimate: StepEstimate) => estimateWorkers(estimate, profile, optimizer, workers).totalBytes;
  const largest = (recompute: boolean) =>
    divisors.map((size) => estimateStep(profile, size, optimizer, recompute)).find((estimate) => total(estimate) <= budgetBytes);
  const plain = largest(false);
  const withRecompute = profile.canRecompute ? largest(true) : undefined;
  let chosen = plain;
  if (withRecompute && (!plain || (plain.microBatch < Math.min(batchSize, 8) && withRecompute.microBatch > plain.microBatch)))
    chosen = withRecompute;
  const withWorkers = (estimate: StepEstimate) =>
    workers > 1 ? { workers: estimateWorkers(estimate, profile, optimizer, workers), predictedPeakBytes: total(estimate) } : {};
  if (!chosen) {
    const smallest = estimateStep(profile, 1, optimizer, profile.canRecompute);
    return { ...smallest, ...withWorkers(smallest), accumulate: batchSize, budgetBytes, batchSize, fits: false };
  }
  return { ...chosen, ...withWorkers(chosen), accumulate: batchSize / chosen.microBatch, budgetBytes, batchSize, fits: true };
}
