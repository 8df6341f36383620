// What streamfit's webgpu kernels change in a training step's memory, for the planner (src/memory): the optimizer update
// writes variables, slots and the trainer's accumulators in place (src/kernels/webgpu/fused-update.ts), so it holds no
// per-variable temporaries and no scaled copy of the gradients; only a uniform buffer or two. But the trainer holds a whole
// chunk's weight gradients until the device has answered its error scope (src/train/trainer.ts), where other backends add
// each into its accumulator as it is made.

import * as tf from '@tensorflow/tfjs';

/** Whether the optimizer update runs as streamfit's WGSL dispatches (the webgpu backend). */
export function runsWebgpuUpdate(): boolean {
  return tf.getBackend() === 'webgpu';
}

/** Bytes per trainable byte the WGSL update holds beyond what the step already holds. */
export const webgpuUpdateTransient = 0;
