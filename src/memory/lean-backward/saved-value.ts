// A forward value the backward pass needs: kept as a tensor, or rebuilt on demand from other saved values when that is cheap
// (BatchNorm, activations, padding: one elementwise pass), so that only the expensive outputs (convolutions) stay in memory.
// Each counts the uses still to come and frees itself, and its recipe's inputs, after the last one.

import type * as tf from '@tensorflow/tfjs';
import { share } from './tensor-views.ts';

type Rebuild = (inputs: tf.Tensor[]) => tf.Tensor;

export class SavedValue {
  private tensor?: tf.Tensor;
  private recipe?: { inputs: SavedValue[]; rebuild: Rebuild };
  private uses = 0;
  private freed = false;

  private constructor(readonly name: string) {}

  /** Keeps a view of `tensor` (no copy); the caller keeps ownership of its own handle. */
  static kept(name: string, tensor: tf.Tensor): SavedValue {
    const value = new SavedValue(name);
    value.tensor = share(tensor);
    return value;
  }

  /** Rebuilt from `inputs` when used; each input is held until this value is freed. */
  static rebuilt(name: string, inputs: SavedValue[], rebuild: Rebuild): SavedValue {
    const value = new SavedValue(name);
    value.recipe = { inputs, rebuild };
    for (const input of inputs) input.claim();
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
    const { inputs, rebuild } = this.recipe!;
    const values: tf.Tensor[] = [];
    try {
      for (const input of inputs) values.push(input.materialize());
      return rebuild(values);
    } finally {
      for (const value of values) value.dispose();
    }
  }
}
