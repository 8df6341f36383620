// swish's gradient on wasm as one compiled pass (src/kernels/assembly/swish.ts) instead of tfjs' sigmoid and five
// elementwise kernels: B0 has 49 swish layers, ~2 M values an image at 128 px, and each tfjs kernel is a pass over them.

import * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput } from './compiled-kernels.ts';

/** dy · σ(x)·(1 + x·(1 − σ(x))) in one pass, where it applies (wasm, float32, same shapes); else undefined. Disposes nothing. */
export function swishGradientWasm(dy: tf.Tensor, x: tf.Tensor): tf.Tensor | undefined {
  if (tf.getBackend() !== 'wasm' || dy.dtype !== 'float32' || x.dtype !== 'float32' || !tf.util.arraysEqual(dy.shape, x.shape))
    return undefined;
  const backend = tf.backend();
  const output = makeOutput(backend, x.shape);
  compiledKernels(backend).swishGradient(addressOf(backend, x), addressOf(backend, dy), addressOf(backend, output), x.size);
  return tf.engine().makeTensorFromTensorInfo(output);
}
