// Counts what tfjs' webgpu backend asks of the device over a computation: compute dispatches (by program name), queue
// submits, buffers created and destroyed, and uniform buffers written. On a fast GPU a training step is host-bound: each
// dispatch costs JavaScript, tfjs and Dawn time (a shader key string, a uniform buffer, a bind group) whatever its size, so
// the count of dispatches is what a change to the step's kernels must bring down; it is exact and the same on any adapter.

import * as tf from '@tensorflow/tfjs';
import { directDispatchListeners } from '../kernels/webgpu/direct-dispatch.ts';
import { recordCacheCounts } from './webgpu-cached-record.ts';

export interface DispatchCounts {
  /** Compute dispatches (one per tfjs or streamfit program run). */
  dispatches: number;
  /** queue.submit calls (tfjs submits every 15 dispatches, and before each read). */
  submits: number;
  /** Compute passes begun: tfjs ends one at every submit, copy (a read back) and upload. */
  computePasses: number;
  /** GPUBuffers created (the pool reuses buffers of an exact size; a warm step should create none). */
  buffersCreated: number;
  buffersDestroyed: number;
  /** Uniform blocks written (the shapes and the program's scalars): new ones in the record cache
   * (src/backend/webgpu-cached-record.ts; none in a warm step), or one per program run that tfjs records itself (streamfit's
   * direct dispatches write one or two per optimizer update, not counted). */
  uniformBuffers: number;
  /** Dispatches by program name (tfjs' class names, `Streamfit_*` for streamfit's kernels), most first. */
  byProgram: Record<string, number>;
}

interface BackendLike {
  recordAndSubmit(program: object, ...rest: unknown[]): void;
  submitQueue(): void;
  bufferManager: { device: { createBuffer(descriptor: object): object } };
  makeUniforms(...args: unknown[]): unknown;
}

/** Runs `body` with the webgpu backend's calls counted (it must be the current backend); nested counts are not supported. */
export async function countDispatches<T>(body: () => Promise<T> | T): Promise<{ result: T; counts: DispatchCounts }> {
  if (tf.getBackend() !== 'webgpu') throw new Error(`countDispatches needs the webgpu backend, not ${tf.getBackend()}`);
  const backend = tf.backend() as unknown as BackendLike;
  const device = backend.bufferManager.device;
  const counts: DispatchCounts = {
    dispatches: 0,
    submits: 0,
    computePasses: 0,
    buffersCreated: 0,
    buffersDestroyed: 0,
    uniformBuffers: 0,
    byProgram: {},
  };
  const { recordAndSubmit, submitQueue, makeUniforms } = backend;
  const createBuffer = device.createBuffer;
  const note = (name: string) => {
    counts.dispatches++;
    counts.byProgram[name] = (counts.byProgram[name] ?? 0) + 1;
  };
  backend.recordAndSubmit = function (program, ...rest) {
    note(program.constructor.name);
    return recordAndSubmit.call(this, program, ...rest);
  };
  // streamfit's kernels that bypass runWebGPUProgram (src/kernels/webgpu/direct-dispatch.ts) report themselves.
  directDispatchListeners.add(note);
  backend.submitQueue = function () {
    counts.submits++;
    return submitQueue.call(this);
  };
  backend.makeUniforms = function (...args) {
    counts.uniformBuffers++;
    return makeUniforms.apply(this, args);
  };
  device.createBuffer = function (descriptor) {
    counts.buffersCreated++;
    return createBuffer.call(this, descriptor);
  };
  const encoderPrototype = (
    globalThis as unknown as { GPUCommandEncoder: { prototype: { beginComputePass(...args: unknown[]): unknown } } }
  ).GPUCommandEncoder.prototype;
  const beginComputePass = encoderPrototype.beginComputePass;
  encoderPrototype.beginComputePass = function (...args) {
    counts.computePasses++;
    return beginComputePass.apply(this, args);
  };
  const bufferPrototype = (globalThis as unknown as { GPUBuffer: { prototype: { destroy(): void } } }).GPUBuffer.prototype;
  const destroy = bufferPrototype.destroy;
  bufferPrototype.destroy = function () {
    counts.buffersDestroyed++;
    return destroy.call(this);
  };
  const cachedUniforms = () => recordCacheCounts(backend)?.uniformBuffers ?? 0;
  const cachedBefore = cachedUniforms();
  try {
    const result = await body();
    counts.uniformBuffers += cachedUniforms() - cachedBefore;
    counts.byProgram = Object.fromEntries(Object.entries(counts.byProgram).sort((a, b) => b[1] - a[1]));
    return { result, counts };
  } finally {
    directDispatchListeners.delete(note);
    // Put back what was there (other wrappers, src/backend/webgpu-backend.ts, may have been own properties already).
    Object.assign(backend, { recordAndSubmit, submitQueue, makeUniforms });
    if (Object.hasOwn(device, 'createBuffer')) delete (device as Partial<typeof device>).createBuffer;
    else device.createBuffer = createBuffer;
    bufferPrototype.destroy = destroy;
    encoderPrototype.beginComputePass = beginComputePass;
  }
}
