// A uint8 image batch onto the GPU as its bytes, widened to float32 there. tfjs has no uint8 tensors, so the batch went up
// as float32: four times the bytes through queue.writeBuffer, after a conversion on the host. At EfficientNet-B0's 224 px
// and batch 32 that was 19 MB a step, about a tenth of the step's host time on an H100 box.

import * as tf from '@tensorflow/tfjs';
import { program, run } from './program.ts';

const workgroupSize = 256;

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
  const built = program({
    key: 'unpack_bytes',
    outputShape: shape,
    inputs: ['words'],
    uniforms: { elements },
    workgroupSize: [workgroupSize, 1, 1],
    dispatch: [Math.max(1, Math.min(Math.ceil(elements / workgroupSize), 65535)), 1, 1],
    code: `
      fn main() {
        let stride = i32(numWorkgroups.x) * ${workgroupSize};
        for (var i = i32(workgroupId.x) * ${workgroupSize} + i32(localIndex); i < uniforms.elements; i += stride) {
          // Little-endian: byte i is bits 8·(i mod 4) of word i / 4.
          let word = bitcast<u32>(words[i / 4]);
          result[i] = f32((word >> (8u * u32(i % 4))) & 255u);
        }
      }`,
  });
  const packedTensor = tf.tensor1d(packed, 'int32');
  try {
    return tf.engine().makeTensorFromTensorInfo(run(tf.backend(), built, [packedTensor])) as tf.Tensor;
  } finally {
    packedTensor.dispose();
  }
}
