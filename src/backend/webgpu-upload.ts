// Host data onto the device with queue.writeBuffer. tfjs' webgpu backend uploads a tensor whose buffer comes from its pool
// through a new mapped staging buffer and a copy command, which also ends the open compute pass: every scalar an op takes
// (tf.mul(x, 0.5), tf.add(variance, ε)) costs a buffer created and destroyed and a pass break, hundreds per training step.
// writeBuffer needs neither. It is safe on a pooled buffer: tfjs pools a buffer only once no unsubmitted command uses it
// (commands already submitted run before a later writeBuffer on the queue timeline).
/// <reference types="@webgpu/types" />

import * as tf from '@tensorflow/tfjs';

interface TensorDataLike {
  dtype: tf.DataType;
  shape: number[];
  values: ArrayLike<number> | null;
  resource: unknown;
}

interface UploadingBackend {
  tensorMap: { get(dataId: object): TensorDataLike };
  queue: GPUQueue;
  bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
  uploadToGPU(dataId: object): void;
}

/** Replaces the backend's uploadToGPU with one that writes float32, int32 and bool data with queue.writeBuffer. */
export function uploadWithWriteBuffer(backend: object): void {
  const uploading = backend as UploadingBackend;
  const original = uploading.uploadToGPU;
  uploading.uploadToGPU = function (this: UploadingBackend, dataId: object) {
    const data = this.tensorMap.get(dataId);
    const integer = data.dtype === 'int32' || data.dtype === 'bool';
    if (data.resource != null || data.values == null || !(integer || data.dtype === 'float32')) return original.call(this, dataId);
    const size = 4 * tf.util.sizeFromShape(data.shape);
    const buffer = this.bufferManager.acquireBuffer(size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
    const values = data.values;
    const words = integer
      ? values instanceof Int32Array
        ? values
        : Int32Array.from(values)
      : values instanceof Float32Array
        ? values
        : Float32Array.from(values);
    if (size > 0) this.queue.writeBuffer(buffer, 0, words.buffer, words.byteOffset, size);
    data.values = null;
    data.resource = buffer;
  };
}
