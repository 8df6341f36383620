// Gradients with recomputation (gradient checkpointing): the forward pass keeps only segment-boundary tensors; the backward
// pass reruns each segment under the tape and back-propagates the upstream gradient dy through it, last segment first.
// tfjs has no built-in for this; tf.engine().gradients(f, xs, dy) gives one segment's gradients for a given dy.

import * as tf from '@tensorflow/tfjs';
import { runSegment, type Segment } from './segments.ts';

export interface RecomputeResult {
  loss: tf.Scalar;
  gradients: Map<string, tf.Tensor>;
}

/** Layers whose state changes in a training forward pass (BatchNorm moving statistics) are restored after a rerun. */
function snapshotMovingStatistics(segment: Segment): () => void {
  const saved = segment.layers
    .filter((layer) => layer.getClassName() === 'BatchNormalization')
    .flatMap((layer) => layer.nonTrainableWeights.map((weight) => [weight, weight.read().clone()] as const));
  return () => {
    for (const [weight, value] of saved) {
      weight.write(value);
      value.dispose();
    }
  };
}

/** Same dropout masks in the first pass and the rerun: every dropout layer gets a fixed seed for this step. */
function fixDropoutSeeds(segments: Segment[], seed: number): () => void {
  const layers = segments.flatMap((segment) => segment.layers).filter((layer) => layer.getClassName() === 'Dropout') as unknown as Array<{
    seed?: number;
  }>;
  layers.forEach((layer, i) => (layer.seed = seed + i));
  return () => layers.forEach((layer) => (layer.seed = undefined));
}

export function recomputedGradients(
  segments: Segment[],
  input: tf.Tensor,
  lossOf: (output: tf.Tensor) => tf.Scalar,
  seed: number,
): RecomputeResult {
  const releaseSeeds = fixDropoutSeeds(segments, seed);
  const boundaries: tf.Tensor[] = [input];
  const gradients = new Map<string, tf.Tensor>();
  try {
    // Forward: keep only what enters each segment.
    for (const segment of segments.slice(0, -1)) {
      const entering = boundaries.at(-1)!;
      boundaries.push(tf.tidy(() => runSegment(segment, entering, true)));
    }
    // The lowest segment that has something to learn: nothing below it needs a gradient.
    const lowest = segments.findIndex((segment) => segment.variables.length > 0);
    let dy: tf.Tensor | undefined;
    let loss: tf.Scalar | undefined;
    for (let i = segments.length - 1; i >= Math.max(lowest, 0); i--) {
      const segment = segments[i];
      const needsInputGradient = i > lowest && i > 0;
      const xs = [...(needsInputGradient ? [boundaries[i]] : []), ...segment.variables];
      if (xs.length === 0) continue;
      const isHead = i === segments.length - 1;
      // The head runs once, here; every other segment already ran (and updated its statistics) in the forward pass.
      const restore = isHead ? () => {} : snapshotMovingStatistics(segment);
      const result = isHead
        ? tf.engine().gradients(() => lossOf(runSegment(segment, boundaries[i], true)), xs, undefined, true)
        : tf.engine().gradients(() => runSegment(segment, boundaries[i], true), xs, dy, true);
      if (isHead) loss = result.value as tf.Scalar;
      else result.value.dispose();
      restore();
      dy?.dispose();
      dy = needsInputGradient ? result.grads[0] : undefined;
      segment.variables.forEach((variable, k) => gradients.set(variable.name, result.grads[k + (needsInputGradient ? 1 : 0)]));
    }
    dy?.dispose();
    return { loss: loss!, gradients };
  } finally {
    tf.dispose(boundaries.slice(1));
    releaseSeeds();
  }
}
