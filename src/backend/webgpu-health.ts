// Watches the webgpu device for what WebGPU reports asynchronously — out-of-memory, validation errors, loss of the device —
// and turns it into errors the trainer's out-of-memory backoff recognises.
/// <reference types="@webgpu/types" />

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

/** Throws what the device reported since the last call: its loss, or an uncaptured out-of-memory error. */
export function throwDeviceErrors(): void {
  if (lost !== undefined) throw new WebgpuDeviceLost(lost);
  const errors = uncaptured.splice(0);
  const outOfMemory = errors.find((error) => error.constructor.name === 'GPUOutOfMemoryError' || /out of memory/i.test(error.message));
  if (outOfMemory) throw new WebgpuOutOfMemory(outOfMemory.message.split('\n')[0]);
  if (errors.length > 0) throw new Error(`webgpu: ${errors[0].message.split('\n')[0]}`);
}

/** Sends tfjs' pending commands to the device, so errors they cause land in the current error scope. */
export function flushCommands(backend: unknown): void {
  const pending = backend as { commandEncoder?: unknown; endComputePassEncoder?: () => void; submitQueue?: () => void };
  if (pending.commandEncoder && pending.endComputePassEncoder && pending.submitQueue) {
    pending.endComputePassEncoder();
    pending.submitQueue();
  }
}

/**
 * Runs `compute` (which queues GPU work on `backend`) inside out-of-memory and validation error scopes, and resolves
 * once the device has said whether its allocations succeeded. A failed one rejects with WebgpuOutOfMemory after
 * `discard` has released the (meaningless) result.
 */
export async function withDeviceErrorScope<T>(backend: unknown, compute: () => T | Promise<T>, discard?: (result: T) => void): Promise<T> {
  const device = watched;
  if (!device) return compute();
  device.pushErrorScope('validation');
  device.pushErrorScope('out-of-memory');
  let result: { value: T } | undefined;
  let thrown: unknown;
  try {
    result = { value: await compute() };
    flushCommands(backend);
  } catch (error) {
    thrown = error;
  }
  // Scopes pop in reverse order, always, or later work would be reported against this one.
  const memoryScope = device.popErrorScope();
  const validationScope = device.popErrorScope();
  const [memoryError, validationError] = await Promise.all([memoryScope, validationScope]);
  const failure = memoryError
    ? new WebgpuOutOfMemory(memoryError.message.split('\n')[0])
    : lost !== undefined
      ? new WebgpuDeviceLost(lost)
      : (thrown ?? (validationError ? new Error(`webgpu: ${validationError.message.split('\n')[0]}`) : undefined));
  if (failure) {
    if (result) discard?.(result.value);
    throw failure;
  }
  return result!.value;
}
