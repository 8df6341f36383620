// A uint8 image batch onto the GPU as its bytes, widened to float32 there. tfjs has no uint8 tensors, so the batch went up
// as float32: four times the bytes through queue.writeBuffer, after a conversion on the host. At EfficientNet-B0's 224 px
// and batch 32 that was 19 MB a step, about a tenth of the step's host time on an H100 box.

import * as tf from '@tensorflow/tfjs';
import { elementwise } from './elementwise.ts';

/** A float32 tensor of `shape` holding `bytes` (one value 0–255 each), uploaded four to a 32-bit word. */
export function bytesToFloatWebgpu(bytes: Uint8Array, shape: number[]): tf.Tensor {
  const elements = bytes.length;
  const words = Math.ceil(elements / 4);
  // A view when the bytes are whole words at a word boundary; a padded copy otherwise.
  let packed: Int32Array;
  if (elements % 4 === 0 && bytes.byteOffset % 4 === 0) packed = new Int32Array(bytes.buffer, bytes.byteOffset, words);
  else {
    const copy = new Uint8Array(words * 4);
    copy.set(bytes);
    packed = new Int32Array(copy.buffer);
  }
  const packedTensor = tf.tensor1d(packed, 'int32');
  try {
    // Little-endian: byte i is bits 8·(i mod 4) of word i / 4.
    return elementwise(
      'unpack_bytes',
      shape,
      { words: packedTensor },
      'result[i] = f32((bitcast<u32>(words[i / 4]) >> (8u * u32(i % 4))) & 255u);',
    );
  } finally {
    packedTensor.dispose();
  }
}
