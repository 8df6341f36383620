// Measures the peak of tfjs' tensor bytes over a synchronous computation, as tf.profile does, without its await.

import * as tf from '@tensorflow/tfjs';
import { withPeakGpuBytesSync } from '../backend/webgpu-memory.ts';

interface ProfilingState {
  profiling: boolean;
  numBytes: number;
  activeProfile: { kernels: Array<{ totalBytesSnapshot: number }> };
}

/**
 * Runs `compute` with the engine's kernel profiling on and returns the highest byte total seen after any kernel.
 * tf.profile records the same snapshots but only finishes after an await; a training step is synchronous.
 */
export function withPeakBytes<T>(compute: () => T): { result: T; peakBytes: number } {
  // On webgpu: the GPU bytes in use (tf.memory().numBytesInGPU), without the per-kernel timing profiling costs there.
  if (tf.getBackend() === 'webgpu') return withPeakGpuBytesSync(compute);
  const state = (tf.engine() as unknown as { state: ProfilingState }).state;
  const wasProfiling = state.profiling;
  const savedKernels = state.activeProfile.kernels;
  const startBytes = state.numBytes;
  state.profiling = true;
  state.activeProfile.kernels = [];
  let peakBytes = startBytes;
  try {
    const result = compute();
    for (const kernel of state.activeProfile.kernels) peakBytes = Math.max(peakBytes, kernel.totalBytesSnapshot);
    return { result, peakBytes };
  } finally {
    state.profiling = wasProfiling;
    state.activeProfile.kernels = savedKernels;
  }
}
