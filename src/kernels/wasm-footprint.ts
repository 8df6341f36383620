// What the compiled wasm kernels change in a training step's memory, for the planner (src/memory): their convolution
// gradients keep no transposed, padded or dilated copy, and the fused optimizer update keeps no per-variable temporaries.
// Measured on wasm with bench/lean-workspace.ts and plan --measure; other backends keep the factors their rules declare.

import * as tf from '@tensorflow/tfjs';

/** Whether the current backend runs the compiled kernels (registered with the wasm backend when it starts). */
export function runsCompiledKernels(): boolean {
  return tf.getBackend() === 'wasm';
}

/** The lean backward pass's convolution workspace (in units of the layer's input and output) with the compiled gradients. */
export const compiledConvolutionWorkspace = {
  conv2d: { input: 2.6, output: 1.6 },
  depthwise: { input: 3, output: 0 },
};

/**
 * Bytes per trainable byte the fused update holds at its peak: none that grow with the model. It scales and clears the
 * trainer's summed gradients itself, and each variable's new value replaces the old one before the next is made.
 */
export const fusedUpdateTransient = 0;
