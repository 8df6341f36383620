// Gradients waiting for the layer that produced a value: summed as consumers hand them in, taken (and owned) by the producer's
// backward step. A gradient may arrive in a smaller shape that broadcasts to the value's (global average pooling hands in
// dy / HW as [N, 1, 1, C]); it is added by broadcasting and expanded only if nothing full-size arrives.

import * as tf from '@tensorflow/tfjs';

export class PendingGradients {
  private readonly sums = new Map<string, tf.Tensor>();

  /** Takes ownership of `gradient`. */
  add(name: string, gradient: tf.Tensor): void {
    const previous = this.sums.get(name);
    if (!previous) {
      this.sums.set(name, gradient);
      return;
    }
    this.sums.set(name, tf.add(previous, gradient));
    tf.dispose([previous, gradient]);
  }

  has(name: string): boolean {
    return this.sums.has(name);
  }

  /** The summed gradient of `name` in the value's full shape, owned by the caller; undefined if nothing flowed into it. */
  take(name: string, shape: number[]): tf.Tensor | undefined {
    const sum = this.sums.get(name);
    if (!sum) return undefined;
    this.sums.delete(name);
    if (tf.util.arraysEqual(sum.shape, shape)) return sum;
    const expanded = tf.broadcastTo(sum, shape);
    sum.dispose();
    return expanded;
  }

  dispose(): void {
    tf.dispose([...this.sums.values()]);
    this.sums.clear();
  }
}
