// Watches the webgpu device for what WebGPU reports asynchronously — out-of-memory, validation errors, loss of the device —
// and turns it into errors the trainer's out-of-memory backoff recognises.
/// <reference types="@webgpu/types" />

import * as tf from '@tensorflow/tfjs';
import { flushCommands, gpuBytes, releasePooledBuffers } from './webgpu-memory.ts';

/** WebGPU's out-of-memory: an allocation the device could not make. Its message matches isOutOfMemory. */
export class WebgpuOutOfMemory extends Error {
  constructor(reason: string) {
    super(`out of memory on the webgpu device: ${reason}`);
  }
}

/** The device is gone (driver reset, or it ran out of memory mid-submit); tensors on it are lost with it. */
export class WebgpuDeviceLost extends Error {
  constructor(readonly reason: string) {
    // Dawn loses the device when the driver fails a submit for want of memory: counted as out of memory, as it is then.
    super(`webgpu device lost (${reason})${/memory/i.test(reason) ? ': out of memory' : ''}`);
  }
}

let watched: GPUDevice | undefined;
let lost: string | undefined;
/** Errors that happened outside any error scope since the last check. */
const uncaptured: GPUError[] = [];

export function watchDevice(device: GPUDevice): void {
  watched = device;
  lost = undefined;
  uncaptured.length = 0;
  device.onuncapturederror = (event) => {
    if (watched === device) uncaptured.push((event as GPUUncapturedErrorEvent).error);
  };
  void device.lost.then((info) => {
    if (watched === device) lost = `${info.reason}: ${info.message}`;
  });
}

/** The device tfjs runs on, while the webgpu backend is started. */
export function watchedDevice(): GPUDevice | undefined {
  return watched;
}

/** An out-of-memory error reported since the last call outside a scope that was waited for (an optimizer update, say). */
function takeUncapturedOutOfMemory(): GPUError | undefined {
  const errors = uncaptured.splice(0);
  return errors.find((error) => error.constructor.name === 'GPUOutOfMemoryError' || /out of memory/i.test(error.message));
}

export interface DeviceErrorScope {
  /** Resolves once the device has said whether the work since the scope opened succeeded; rejects if it did not. */
  check(): Promise<void>;
  /** Closes the scope whatever happened (a no-op after check). */
  close(): Promise<void>;
}

/**
 * Opens out-of-memory and validation error scopes on the webgpu device, around work whose results must not be used if
 * an allocation failed (WebGPU reports that asynchronously). On any other backend it does nothing. check() rejects with
 * WebgpuOutOfMemory (after handing the pool's buffers back), WebgpuDeviceLost, or the validation error.
 */
export function openDeviceErrorScope(): DeviceErrorScope {
  const device = tf.getBackend() === 'webgpu' ? watched : undefined;
  if (!device) return { check: async () => {}, close: async () => {} };
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  const allocatedAtOpen = gpuBytes()?.allocated ?? 0;
  let popped: Promise<Array<GPUError | null>> | undefined;
  const pop = () => {
    if (!popped) {
      // Errors of commands tfjs has not submitted yet would otherwise land in whatever scope is open at its next submit.
      flushCommands(tf.backend());
      // Scopes pop in reverse order, always, or later work would be reported against this one.
      const memory = device.popErrorScope();
      const validation = device.popErrorScope();
      popped = Promise.all([memory, validation]);
    }
    return popped;
  };
  return {
    async check() {
      // Only new buffers can fail to allocate. When the pool served every one, waiting for the device would only stall
      // it once per micro-batch: the scope is closed without waiting, and what it reports is thrown at the next check.
      if ((gpuBytes()?.allocated ?? 0) <= allocatedAtOpen && lost === undefined) {
        void pop().then((errors) => uncaptured.push(...errors.filter((error): error is GPUError => error !== null)));
        return;
      }
      const [scopedMemoryError, validationError] = await pop();
      const memoryError = scopedMemoryError ?? takeUncapturedOutOfMemory();
      if (memoryError) {
        releasePooledBuffers();
        throw new WebgpuOutOfMemory(memoryError.message.split('\n')[0]);
      }
      if (lost !== undefined) throw new WebgpuDeviceLost(lost);
      if (validationError) throw new Error(`webgpu: ${validationError.message.split('\n')[0]}`);
    },
    async close() {
      await pop().catch(() => undefined);
    },
  };
}

/** `compute` inside openDeviceErrorScope; on failure `discard` releases its (meaningless) result before the error is thrown. */
export async function withDeviceErrorScope<T>(compute: () => T | Promise<T>, discard?: (result: T) => void): Promise<T> {
  const scope = openDeviceErrorScope();
  try {
    const result = await compute();
    try {
      await scope.check();
    } catch (error) {
      discard?.(result);
      throw error;
    }
    return result;
  } finally {
    await scope.close();
  }
}
