// The model's weights in one SharedArrayBuffer: the main thread writes them (the authoritative copy, after each update)
// and every worker loads them before its next micro-batch, without a copy per worker in flight.

import type * as tf from '@tensorflow/tfjs';
import { StreamfitError } from '../../errors.ts';
import { assignVariable, readTensor } from './tensor-memory.ts';

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

  // Both take model.weights gathered once: the LayersModel getter walks every layer on each call (0.25 ms for
  // EfficientNet-B0), too slow to call per weight.

  /**
   * Copies the model's weights in (the main thread, between windows: no worker reads meanwhile); only those at
   * `indices` (model.weights order) when given.
   */
  write(weights: readonly tf.LayerVariable[], indices?: readonly number[]): void {
    for (const i of indices ?? weights.keys()) readTensor(weights[i].read(), this.values, this.layout.offsets[i]);
  }

  /** Loads the buffer into the model's weights (a worker), or only the weights at `indices`. */
  readInto(weights: readonly tf.LayerVariable[], indices?: readonly number[]): void {
    // New tensors, not writes in place: tfjs-wasm keeps each convolution's filter packed in a cache keyed by its tensor.
    for (const i of indices ?? weights.keys()) assignVariable(weights[i].read() as tf.Variable, this.view(i));
  }

  /** Weight `i` (model.weights order), copied out. */
  slice(i: number): Float32Array {
    return this.view(i).slice();
  }

  /** Weight `i` (model.weights order) in the shared memory itself. */
  view(i: number): Float32Array {
    const start = this.layout.offsets[i];
    const size = this.layout.shapes[i].reduce((product, extent) => product * extent, 1);
    return this.values.subarray(start, start + size);
  }
}
