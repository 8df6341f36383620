// Dispatches a streamfit compute pipeline into tfjs' webgpu command stream directly, for kernels tfjs' runWebGPUProgram
// cannot express: several outputs, buffers written in place (an optimizer's variables and slots). The dispatch joins
// tfjs' open compute pass, marks its tensors as owned by the pending commands (so tfjs defers their disposal to the
// next submit, as it does for its own), and submits after the same number of dispatches as tfjs does.
/// <reference types="@webgpu/types" />

import * as tf from '@tensorflow/tfjs';
import { cachedBindGroup } from '../../backend/webgpu-cached-record.ts';

interface TensorDataLike {
  resource: GPUBuffer | null;
  values: unknown;
  refCount: number;
}

/** The fields of tfjs 4.22's WebGPUBackend (backend_webgpu.ts) a direct dispatch reads and writes. */
export interface WebgpuBackendInternals {
  device: GPUDevice;
  queue: GPUQueue;
  tensorMap: { get(dataId: object): TensorDataLike };
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  dispatchCountInPass: number;
  commandQueueOwnedIds: WeakSet<object>;
  uniformPendingDisposal: GPUBuffer[];
  bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
  uploadToGPU(dataId: object): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** Called once per direct dispatch (countDispatches listens), with the kernel's name. */
export const directDispatchListeners = new Set<(name: string) => void>();

export function webgpuInternals(): WebgpuBackendInternals {
  return tf.backend() as unknown as WebgpuBackendInternals;
}

/** The GPU buffer of a tensor, uploaded first if its data is still on the host. */
export function bufferOf(backend: WebgpuBackendInternals, tensor: tf.Tensor): GPUBuffer {
  backend.uploadToGPU(tensor.dataId);
  return backend.tensorMap.get(tensor.dataId).resource!;
}

/**
 * Marks a tensor written in place: its host copy (tfjs caches one after a read) is stale now, so it is dropped and the
 * next read comes from the device.
 */
export function writtenInPlace(backend: WebgpuBackendInternals, tensor: tf.Tensor): void {
  backend.tensorMap.get(tensor.dataId).values = null;
}

/** A new float32 tensor of `shape` with its buffer on the device, for a dispatch to write. */
export function newOutput(backend: WebgpuBackendInternals, shape: number[]): tf.Tensor {
  const info = (backend as unknown as { makeTensorInfo(shape: number[], dtype: 'float32'): tf.TensorInfo }).makeTensorInfo(
    shape,
    'float32',
  );
  backend.uploadToGPU(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** A uniform buffer with `data`, from tfjs' pool; the caller hands it to `releaseAfterSubmit` once its dispatches are recorded. */
export function uniformBuffer(backend: WebgpuBackendInternals, data: Float32Array | Uint32Array): GPUBuffer {
  const buffer = backend.bufferManager.acquireBuffer(data.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  backend.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  return buffer;
}

/**
 * Gives uniform buffers back to tfjs' pool at its next submit. Only after the last dispatch that binds them is recorded:
 * a buffer released earlier could be taken and rewritten (queue.writeBuffer runs before pending commands) by another kernel.
 */
export function releaseAfterSubmit(backend: WebgpuBackendInternals, buffers: GPUBuffer[]): void {
  backend.uniformPendingDisposal.push(...buffers);
}

/** Records one dispatch of `pipeline` over `entries` (binding order) into tfjs' command stream. */
export function dispatch(
  backend: WebgpuBackendInternals,
  name: string,
  pipeline: GPUComputePipeline,
  entries: GPUBufferBinding[],
  workgroups: [number, number, number],
  tensors: tf.Tensor[],
): void {
  const bindGroup = cachedBindGroup(backend, pipeline, entries);
  for (const tensor of tensors) backend.commandQueueOwnedIds.add(tensor.dataId);
  backend.ensureCommandEncoderReady();
  backend.computePassEncoder ??= backend.commandEncoder!.beginComputePass();
  backend.computePassEncoder.setPipeline(pipeline);
  backend.computePassEncoder.setBindGroup(0, bindGroup);
  backend.computePassEncoder.dispatchWorkgroups(...workgroups);
  backend.dispatchCountInPass++;
  for (const listener of directDispatchListeners) listener(name);
  if (backend.dispatchCountInPass >= Number(tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE'))) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** The compute pipeline of `code` (entry point `main`), compiled once per device. */
export function computePipeline(backend: WebgpuBackendInternals, name: string, code: string): GPUComputePipeline {
  let cache = pipelines.get(backend.device);
  if (!cache) {
    cache = new Map();
    pipelines.set(backend.device, cache);
  }
  let pipeline = cache.get(name);
  if (!pipeline) {
    const module = backend.device.createShaderModule({ code, label: name });
    pipeline = backend.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: name });
    cache.set(name, pipeline);
  }
  return pipeline;
}
