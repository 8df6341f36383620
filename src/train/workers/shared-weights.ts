// The model's weights in one SharedArrayBuffer: the main thread writes them (the authoritative copy, after each update)
// and every worker loads them before its next micro-batch, without a copy per worker in flight.

import * as tf from '@tensorflow/tfjs';
import { StreamfitError } from '../../errors.ts';

/** Where each of the model's weights (model.weights order) lies in the buffer, in float32 elements. */
export interface WeightsLayout {
  shapes: number[][];
  offsets: number[];
  length: number;
}

export function weightsLayout(model: tf.LayersModel): WeightsLayout {
  const shapes = model.weights.map((weight) => [...weight.shape] as number[]);
  const offsets: number[] = [];
  let length = 0;
  for (const [i, shape] of shapes.entries()) {
    if (model.weights[i].dtype !== 'float32')
      throw new StreamfitError(`weight ${model.weights[i].name} is ${model.weights[i].dtype}; workers share float32 weights only`);
    offsets.push(length);
    length += shape.reduce((product, size) => product * size, 1);
  }
  return { shapes, offsets, length };
}

export class SharedWeights {
  readonly values: Float32Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly layout: WeightsLayout,
  ) {
    this.values = new Float32Array(buffer, 0, layout.length);
  }

  static allocate(layout: WeightsLayout): SharedWeights {
    return new SharedWeights(new SharedArrayBuffer(layout.length * 4), layout);
  }

  /** Copies the model's weights in (the main thread, between windows: no worker reads meanwhile). */
  async write(model: tf.LayersModel): Promise<void> {
    const values = await Promise.all(model.weights.map((weight) => weight.read().data() as Promise<Float32Array>));
    values.forEach((value, i) => this.values.set(value, this.layout.offsets[i]));
  }

  /** Loads the buffer into the model (a worker). The values are copied: tfjs' cpu backend would otherwise keep the view. */
  readInto(model: tf.LayersModel): void {
    const tensors = this.layout.shapes.map((shape, i) => tf.tensor(this.slice(i), shape, 'float32'));
    try {
      model.setWeights(tensors);
    } finally {
      tf.dispose(tensors);
    }
  }

  /** Weight `i` (model.weights order), copied out. */
  slice(i: number): Float32Array {
    const start = this.layout.offsets[i];
    const size = this.layout.shapes[i].reduce((product, extent) => product * extent, 1);
    return this.values.slice(start, start + size);
  }
}
