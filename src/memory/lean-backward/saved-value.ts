// A forward value the backward pass needs: kept as a tensor, or rebuilt on demand from other saved values when that is cheap
// (BatchNorm, activations, padding: one elementwise pass), so that only the expensive outputs (convolutions) stay in memory.
// Each counts the uses still to come and frees itself, and its recipe's inputs, after the last one.

import * as tf from '@tensorflow/tfjs';
import type { Layer, Unbuilt } from './layer-rule.ts';
import { share } from './tensor-views.ts';

/** How a value is rebuilt: the rule kind and layer, the saved values it reads (the layer's inputs, then its extras). */
export interface Recipe {
  kind: string;
  layer: Layer;
  inputs: SavedValue[];
  /** How many of `inputs` are the layer's inputs; the rest are its extras. */
  inputCount: number;
  rebuild(tensors: tf.Tensor[]): tf.Tensor;
  /** With one input: the value rebuilt from that input's recipe, unrun, when a rule of `kind` rebuilds the input. */
  rebuildFrom?: { kind: string; rebuild(input: Unbuilt): tf.Tensor | undefined };
}

/**
 * Off: every rebuilt value is rebuilt by its own rule, none inside its consumer's kernel, and no forward output is deferred
 * (src/memory/lean-backward/lean-tape.ts): a benchmark's same-run baseline.
 */
export const rebuildFusion = { enabled: true };

export class SavedValue {
  private tensor?: tf.Tensor;
  private recipe?: Recipe;
  private uses = 0;
  private freed = false;

  private constructor(readonly name: string) {}

  /** Keeps a view of `tensor` (no copy); the caller keeps ownership of its own handle. */
  static kept(name: string, tensor: tf.Tensor): SavedValue {
    const value = new SavedValue(name);
    value.tensor = share(tensor);
    return value;
  }

  /** Rebuilt from the recipe's inputs when used; each input is held until this value is freed. */
  static rebuilt(name: string, recipe: Recipe): SavedValue {
    const value = new SavedValue(name);
    value.recipe = recipe;
    for (const input of recipe.inputs) input.claim();
    return value;
  }

  get isKept(): boolean {
    return this.tensor !== undefined;
  }

  /** Nothing has claimed it (yet). */
  get unclaimed(): boolean {
    return this.uses === 0 && !this.freed;
  }

  /** Registers one future use (by a backward step or another value's recipe). */
  claim(): void {
    if (this.freed) throw new Error(`lean backward: ${this.name} is already freed`);
    this.uses++;
  }

  /** The value as a tensor the caller owns and disposes, counting one use: after the last use only the caller's handle is left. */
  take(): tf.Tensor {
    const value = this.materialize();
    this.release();
    return value;
  }

  /** The recipe, unrun, counting one use, when a rule of `kind` rebuilds this value; undefined, counting nothing, otherwise. */
  takeUnbuilt(kind: string): Unbuilt | undefined {
    const unbuilt = this.unbuilt(kind);
    if (unbuilt) this.release();
    return unbuilt;
  }

  /** One use done without reading the value. */
  release(): void {
    if (this.freed) return;
    this.uses--;
    if (this.uses <= 0) this.free();
  }

  /** Frees now, whatever the count (error paths). */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.tensor?.dispose();
    this.tensor = undefined;
    const inputs = this.recipe?.inputs ?? [];
    this.recipe = undefined;
    for (const input of inputs) input.release();
  }

  private materialize(): tf.Tensor {
    if (this.freed) throw new Error(`lean backward: ${this.name} was used after it was freed`);
    if (this.tensor) return share(this.tensor);
    const { inputs, rebuild, rebuildFrom } = this.recipe!;
    const unbuilt = rebuildFrom && inputs.length === 1 ? inputs[0].unbuilt(rebuildFrom.kind) : undefined;
    if (unbuilt) {
      try {
        const value = rebuildFrom!.rebuild(unbuilt);
        if (value) return value;
      } finally {
        tf.dispose([...unbuilt.inputs, ...unbuilt.extras]);
      }
    }
    const values = this.recipeValues();
    try {
      return rebuild(values);
    } finally {
      for (const value of values) value.dispose();
    }
  }

  /** The recipe unrun (its inputs materialized, no use counted) if a rule of `kind` rebuilds this value. */
  private unbuilt(kind: string): Unbuilt | undefined {
    if (this.freed) throw new Error(`lean backward: ${this.name} was used after it was freed`);
    const recipe = this.recipe;
    if (this.tensor || !recipe || recipe.kind !== kind || !rebuildFusion.enabled) return undefined;
    const values = this.recipeValues();
    return {
      kind: recipe.kind,
      layer: recipe.layer,
      inputs: values.slice(0, recipe.inputCount),
      extras: values.slice(recipe.inputCount),
      rebuild: () => recipe.rebuild(values),
    };
  }

  private recipeValues(): tf.Tensor[] {
    const values: tf.Tensor[] = [];
    try {
      for (const input of this.recipe!.inputs) values.push(input.materialize());
      return values;
    } catch (error) {
      for (const value of values) value.dispose();
      throw error;
    }
  }
}
