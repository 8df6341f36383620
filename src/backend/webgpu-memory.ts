// GPU memory on tfjs' webgpu backend: bytes in use and held by its buffer pool, the peak in use over a computation, and
// handing pooled buffers back to the device.
//
// How the pool counts: tfjs never frees a GPUBuffer when a tensor is disposed; it keeps it in a free list keyed by exact
// size and usage, for the next tensor of that size. tf.memory() reports numBytesInGPU (buffers in use by tensors, uniforms
// and staging) and numBytesAllocatedInGPU (in use + pooled: what the device holds). A training step of fixed shapes reuses
// its own buffers, so the pool stops growing after the first step; a new shape (an out-of-memory split, a sweep trial, a
// phase change) adds buffers of new sizes that only releasePooledBuffers() gives back.

import * as tf from '@tensorflow/tfjs';
import { forgetRecordCaches } from './webgpu-cached-record.ts';

interface BufferManagerLike {
  numBytesUsed: number;
  numBytesAllocated: number;
  numFreeBuffers: number;
  freeBuffers: Map<string, Array<{ size: number; destroy(): void }>>;
  acquireBuffer(...args: unknown[]): unknown;
  /** Set by capPooledBytes: the acquire it wraps. */
  uncappedAcquire?: (...args: unknown[]) => unknown;
}

function bufferManager(): BufferManagerLike | undefined {
  if (!tf.findBackend('webgpu')) return undefined;
  return (tf.findBackend('webgpu') as unknown as { bufferManager?: BufferManagerLike }).bufferManager;
}

export interface GpuBytes {
  /** Buffers holding tensors (and the step's uniforms and staging buffers). */
  inUse: number;
  /** In use plus pooled: what the device holds for tfjs. */
  allocated: number;
}

/**
 * The webgpu backend's GPU bytes, or undefined when it has not been started. Pending commands are sent first: tfjs holds
 * the buffers of disposed tensors, uniforms and upload staging until its next submit, so without it the figures would
 * depend on where in a batch of commands the call falls.
 */
export function gpuBytes(): GpuBytes | undefined {
  const manager = bufferManager();
  if (!manager) return undefined;
  flushCommands(tf.findBackend('webgpu'));
  return { inUse: manager.numBytesUsed, allocated: manager.numBytesAllocated };
}

/**
 * Destroys the pooled (free) buffers, so the device memory they hold goes back to the driver, and forgets the cached
 * uniform buffers and bind groups (src/backend/webgpu-cached-record.ts); returns the pool's bytes freed.
 * The free lists are emptied in place: tfjs' releaseBuffer ignores every release once the map itself is empty.
 */
export function releasePooledBuffers(): number {
  const manager = bufferManager();
  if (!manager) return 0;
  // The record caches' uniform buffers and bind groups go too, once no pending command uses them.
  const backend = tf.findBackend('webgpu');
  flushCommands(backend);
  forgetRecordCaches(backend);
  let freed = 0;
  for (const buffers of manager.freeBuffers.values()) {
    for (const buffer of buffers) {
      freed += buffer.size;
      buffer.destroy();
    }
    manager.numFreeBuffers -= buffers.length;
    buffers.length = 0;
  }
  manager.numBytesAllocated -= freed;
  return freed;
}

/**
 * Keeps what the device holds for tfjs (in use + pooled) under `capBytes` where it can: before a new buffer is created,
 * pooled buffers of other sizes are destroyed until the new one fits. Without it the pool of exact sizes holds every size
 * a step ever used (B0's step at 64 px: 349 MB in use at the peak, 572 MB held). The cap never fails an allocation:
 * in use beyond it is the step's own need, which the --memory budget checks. undefined removes the cap.
 */
export function capPooledBytes(capBytes: number | undefined): void {
  const manager = bufferManager();
  if (!manager) return;
  if (manager.uncappedAcquire) {
    manager.acquireBuffer = manager.uncappedAcquire;
    manager.uncappedAcquire = undefined;
  }
  if (capBytes === undefined) return;
  const acquire = manager.acquireBuffer;
  manager.uncappedAcquire = acquire;
  manager.acquireBuffer = function (this: BufferManagerLike, ...args: unknown[]) {
    const [size, usage, , reuse = true] = args as [number, number, boolean, boolean];
    const pooled = reuse && (this.freeBuffers.get(`${size}_${usage}`)?.length ?? 0) > 0;
    if (!pooled && this.numBytesAllocated + size > capBytes) evictPooled(this, this.numBytesAllocated + size - capBytes);
    return acquire.apply(this, args);
  };
}

/** Destroys pooled buffers, largest first, until `bytes` are freed or the pool is empty. */
function evictPooled(manager: BufferManagerLike, bytes: number): void {
  const lists = [...manager.freeBuffers.values()].filter((list) => list.length > 0).sort((a, b) => b[0].size - a[0].size);
  let freed = 0;
  for (const list of lists) {
    while (list.length > 0 && freed < bytes) {
      const buffer = list.pop()!;
      freed += buffer.size;
      buffer.destroy();
      manager.numFreeBuffers--;
    }
    if (freed >= bytes) break;
  }
  manager.numBytesAllocated -= freed;
}

/** Sends tfjs' pending commands to the device (and so releases the buffers it holds until a submit). */
export function flushCommands(backend: unknown): void {
  const pending = backend as { commandEncoder?: unknown; endComputePassEncoder?: () => void; submitQueue?: () => void };
  if (pending.commandEncoder && pending.endComputePassEncoder && pending.submitQueue) {
    pending.endComputePassEncoder();
    pending.submitQueue();
  }
}

/** Counts the highest numBytesInGPU from now on, sampled at every buffer the backend acquires, until `stop`. */
function watchPeak(manager: BufferManagerLike): { peak: () => number; stop: () => void } {
  const acquire = manager.acquireBuffer;
  let peakBytes = manager.numBytesUsed;
  manager.acquireBuffer = function (this: BufferManagerLike, ...args: unknown[]) {
    const buffer = acquire.apply(this, args);
    peakBytes = Math.max(peakBytes, this.numBytesUsed);
    return buffer;
  };
  return {
    peak: () => peakBytes,
    stop: () => {
      manager.acquireBuffer = acquire;
    },
  };
}

/** Runs `compute` and returns the highest numBytesInGPU while it ran: the GPU bytes a step needs, pool excluded. */
export async function withPeakGpuBytes<T>(compute: () => T | Promise<T>): Promise<{ result: T; peakBytes: number }> {
  const manager = bufferManager();
  if (!manager) return { result: await compute(), peakBytes: 0 };
  const watch = watchPeak(manager);
  try {
    const result = await compute();
    return { result, peakBytes: watch.peak() };
  } finally {
    watch.stop();
  }
}

/**
 * The synchronous form, for the trainer's --memory budget: engine profiling (tf.profile's way) would time every kernel
 * on webgpu with a queue submit and a timestamp query each.
 */
export function withPeakGpuBytesSync<T>(compute: () => T): { result: T; peakBytes: number } {
  const manager = bufferManager();
  if (!manager) throw new Error('the webgpu backend has not started');
  const watch = watchPeak(manager);
  try {
    const result = compute();
    return { result, peakBytes: watch.peak() };
  } finally {
    watch.stop();
  }
}

interface DisposingBackend {
  tensorMap: { get(dataId: object): { resource?: { size?: number } | null } | undefined };
  commandQueueOwnedIds: WeakSet<object>;
  disposeData(dataId: object, force?: boolean): boolean;
  submitQueue(): void;
  endComputePassEncoder(): void;
}

/**
 * Freed bytes that wait for a submit before streamfit submits early (below): 64 MiB made B0's step at 128 px, micro-batch
 * 16, peak 25 % lower for 3 % more submits (16 MiB: 28 % lower, 29 % more). Up to this much can count as in use. A
 * measurement of kernels' own workspace (bench/lean-workspace.ts) sets it to 0, so that no freed buffer waits.
 */
export const earlySubmit = { bytes: 64 * 2 ** 20 };

/** The bound of the chunk that is running (withEarlySubmitBound), below earlySubmit.bytes. */
let chunkBound = Number.POSITIVE_INFINITY;

/**
 * Runs `body` (one chunk's forward and backward pass, synchronous) with early submits at twice its largest layer output
 * when that is below earlySubmit.bytes. Where the 15-dispatch submits fall moves with every change of a step's dispatch
 * count, and with it how many freed outputs wait at the peak (B0 at 224 px, micro-batch 2: 2.1 to 4.3; MobileNetV2 one
 * more after three dispatches went); with this bound they are at most two largest outputs and the one whose release
 * crossed it, which the planner counts (src/kernels/webgpu/footprint.ts).
 */
export function withEarlySubmitBound<T>(largestOutputBytes: number, body: () => T): T {
  const outer = chunkBound;
  chunkBound = Math.min(outer, 2 * largestOutputBytes);
  try {
    return body();
  } finally {
    chunkBound = outer;
  }
}

/**
 * Submits the pending commands as soon as earlySubmit.bytes of freed tensors wait for them. tfjs defers the release of a
 * disposed tensor's buffer that pending commands use until its next submit (every 15 dispatches), so up to 15 dispatches'
 * worth of freed layer outputs stay in use: 45 % over the planned peak for B0 at 128 px, micro-batch 16, on the software
 * adapter (−7 % with this at 64 MiB). An early submit hands them to the pool for the next allocation.
 */
export function submitWhenFreedBytesPending(backend: object): void {
  const disposing = backend as DisposingBackend;
  const { disposeData, submitQueue } = disposing;
  let pending = 0;
  disposing.submitQueue = function (this: DisposingBackend) {
    pending = 0;
    return submitQueue.call(this);
  };
  disposing.disposeData = function (this: DisposingBackend, dataId: object, force?: boolean) {
    const deferred = this.commandQueueOwnedIds.has(dataId);
    const bytes = this.tensorMap.get(dataId)?.resource?.size ?? 0;
    const released = disposeData.call(this, dataId, force);
    if (released && deferred && bytes > 0) {
      pending += bytes;
      if (pending >= Math.min(earlySubmit.bytes, chunkBound)) {
        this.endComputePassEncoder();
        this.submitQueue();
      }
    }
    return released;
  };
}
