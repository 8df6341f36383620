// The contract between the lean backward pass and one kind of layer: what its backward step reads, how it runs forward
// outside tfjs' tape, how its output is rebuilt when that is cheaper than keeping it, and its closed-form gradients.

import type * as tf from '@tensorflow/tfjs';
import { workspaceOnBackend } from '../../kernels/webgpu/footprint.ts';

export type Layer = tf.layers.Layer;

export interface RuleAnalysis {
  /** Whether each input needs a gradient (it depends on a trainable weight). */
  inputsNeedGradient: boolean[];
  /** Whether a weight of the layer gets a gradient: it is one of the trainer's variables. */
  wants(weight: tf.LayerVariable | undefined): boolean;
}

export interface BackwardNeeds {
  /** The inputs whose forward values the backward step reads. */
  inputs: boolean[];
  /** Whether it reads its own output. */
  output: boolean;
}

export interface ForwardState {
  /** Update running statistics (BatchNorm's moving mean and variance); false when a recomputed segment reruns. */
  updateStatistics: boolean;
}

export interface ForwardResult {
  output: tf.Tensor;
  /** What the backward step or a rebuild needs besides inputs and output (batch statistics, a dropout mask); the engine owns them. */
  extras?: tf.Tensor[];
}

/** Saved forward values, each returned as a tensor the caller owns and disposes as soon as it is done with it. */
export interface SavedReader {
  input(index: number): tf.Tensor;
  output(): tf.Tensor;
  extra(index: number): tf.Tensor;
  /** Input `index` as its recipe, unrun, when a rule of `kind` rebuilds it; otherwise undefined, and input(index) still reads it. */
  unbuiltInput(index: number, kind: string): Unbuilt | undefined;
}

/**
 * A rebuilt value's recipe, not run: the rule kind and layer that rebuild it and the tensors that rebuild would read (the
 * holder's to dispose). A consumer that can apply the recipe inside its own kernel takes this instead of the value (swish
 * after BatchNorm on webgpu), so the value is never in memory and costs no pass of its own.
 */
export interface Unbuilt {
  kind: string;
  layer: Layer;
  inputs: tf.Tensor[];
  extras: tf.Tensor[];
  /** The value after all, as the producing rule rebuilds it; disposes nothing. */
  rebuild(): tf.Tensor;
}

export interface BackwardContext extends RuleAnalysis {
  saved: SavedReader;
  /** Hands a weight's gradient to the trainer; ownership passes with it. */
  deliver(weight: tf.LayerVariable, gradient: tf.Tensor): void;
}

export interface LayerRule {
  /** The name logs use for it. */
  kind: string;
  /** Whether the rule covers this layer (class, options, input rank); layers no rule covers use tfjs' autodiff. */
  handles(layer: Layer): boolean;
  needs(layer: Layer, analysis: RuleAnalysis): BackwardNeeds;
  forward(layer: Layer, inputs: tf.Tensor[], state: ForwardState): ForwardResult;
  /**
   * Present for layers whose output costs one cheap pass to recompute (normalization, activations, padding, masks): the output
   * is then rebuilt from the inputs and extras when the backward pass needs it instead of being kept. Returns a new tensor.
   */
  rebuild?(layer: Layer, inputs: tf.Tensor[], extras: tf.Tensor[]): tf.Tensor;
  /**
   * With `rebuild`, for a layer of one input that keeps no extras and whose rebuild is its forward computation: the rule
   * kind of the input's producer whose recipe this layer applies inside its own kernel on the running backend (swish:
   * BatchNorm's, on webgpu), or undefined.
   */
  fusesRecipeOf?(layer: Layer): string | undefined;
  /**
   * With fusesRecipeOf: the output straight from the input's recipe, unrun, in one kernel; undefined where it cannot after
   * all (another dtype), and `rebuild` (or `forward`) runs. In the backward pass and, when the input was deferred
   * (forwardDeferred), in the forward pass. Disposes nothing.
   */
  rebuildFrom?(layer: Layer, input: Unbuilt): tf.Tensor | undefined;
  /**
   * With `rebuild`, for a layer whose output has its first input's shape and whose rebuild gives exactly the forward
   * pass's output: the forward pass's extras alone (BatchNorm's batch statistics, the moving ones updated), the output left
   * unmade for its one consumer to apply inside its own kernel (fusesRecipeOf); undefined when the output must be made
   * now (`forward` then runs).
   */
  forwardDeferred?(layer: Layer, inputs: tf.Tensor[], state: ForwardState): { extras: tf.Tensor[] } | undefined;
  /** With forwardDeferred: whether it defers this layer's output on the running backend (for the tape and the planner). */
  defers?(layer: Layer): boolean;
  /**
   * Takes ownership of `dy` (dispose it as soon as it is used, or return it as an input's gradient). Returns the gradient of
   * each input that needs one (undefined for the others); the engine owns them.
   */
  backward(layer: Layer, dy: tf.Tensor, context: BackwardContext): Array<tf.Tensor | undefined>;
  /** Elements per sample of the extras the forward keeps, for the planner (default 0). */
  extraElements?(layer: Layer): number;
  /**
   * For the planner: the full-size tensors its backward step holds at its peak besides dy and what the tape keeps, in units
   * of its input and its output (a rebuilt input's recipe, the activation's derivative, dx…), and the temporaries of its
   * forward computation in units of its output (BatchNorm's moments, swish's sigmoid; 1 when not given). Measured on wasm;
   * webgpu has its own (workspaceOf).
   */
  workspace: Workspace | ((layer: Layer) => Workspace);
}

export interface Workspace {
  input: number;
  output: number;
  forward?: number;
}

/** The rule's workspace for this layer, or its kind's on a backend that differs (src/kernels/webgpu/footprint.ts). */
export function workspaceOf(rule: LayerRule, layer: Layer): Workspace {
  return workspaceOnBackend(rule.kind, layer) ?? (typeof rule.workspace === 'function' ? rule.workspace(layer) : rule.workspace);
}

/** The static shapes of a layer's inputs (batch size null). */
export function inputShapesOf(layer: Layer): Array<Array<number | null>> {
  return [layer.input].flat().map((input) => input.shape);
}

/** The shape of input `index` in this step, whose batch size is `batch`. */
export function inputShapeFor(layer: Layer, batch: number, index = 0): number[] {
  return [batch, ...(inputShapesOf(layer)[index].slice(1) as number[])];
}
