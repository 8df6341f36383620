// Whether streamfit's fused BatchNorm paths run on wasm: the wasm backend with its compiled kernels registered
// (registerWasmTrainingKernels, at backend selection) and float32 tensors that have elements. Elsewhere the callers keep
// tfjs' ops (cpu) or their WGSL kernels (webgpu).

import * as tf from '@tensorflow/tfjs';
import { channelMomentsKernel } from './channel-moments.ts';

export function fusesOnWasm(...tensors: tf.Tensor[]): boolean {
  return (
    tf.getBackend() === 'wasm' &&
    tf.getKernel(channelMomentsKernel, 'wasm') !== undefined &&
    tensors.every((tensor) => tensor.dtype === 'float32' && tensor.size > 0)
  );
}

/** Whether each of `perChannel` holds one value per channel of `x`'s last axis. */
export function holdsOnePerChannel(x: tf.Tensor, ...perChannel: tf.Tensor[]): boolean {
  const channels = x.shape[x.rank - 1];
  return x.rank > 0 && perChannel.every((tensor) => tensor.size === channels);
}
