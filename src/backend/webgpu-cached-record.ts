// Records a tfjs program's dispatch with its uniform buffer and bind group taken from caches. On a fast GPU a training
// step is host-bound, and tfjs' recordAndSubmit spends much of each dispatch's host time on objects that are the same
// every step: it writes a fresh uniform buffer (shapes, strides, the program's scalars) and creates a bind group over the
// pool's buffers. A step repeats the same programs over the same shapes, and once the pool hands out its buffers in a
// fixed order (webgpu-pool-order.ts) the same dispatch binds the same buffers, so both are found again after a few warm
// steps. Measured on an H100 box, createBindGroup alone took 11.7 µs of a dispatch's host time; B0's whole step at 224 px,
// batch 32, took 1.49× less host time (bench/webgpu-dispatches.ts --host-only).
/// <reference types="@webgpu/types" />

import * as tf from '@tensorflow/tfjs';
import { type BufferPool, handOutInFixedOrder } from './webgpu-pool-order.ts';
import { type UniformField, type UniformProgram, uniformWords } from './webgpu-uniform-block.ts';

type BufferBinding = GPUBufferBinding & { buffer: GPUBuffer };

interface ProgramLike extends UniformProgram {
  pipeline: GPUComputePipeline | Promise<GPUComputePipeline>;
  pixelsOpType?: unknown;
  dispatch: [number, number, number];
}

interface TensorInfoLike {
  dataId: object;
  shape: number[];
}

interface RecordingBackend {
  bufferManager: BufferPool;
  device: GPUDevice;
  tensorMap: { get(dataId: object): { resource: unknown } };
  activeTimers: unknown;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  dispatchCountInPass: number;
  commandQueueOwnedIds: WeakSet<object>;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  recordAndSubmit(program: ProgramLike, output: TensorInfoLike, inputs: TensorInfoLike[], uniforms?: UniformField[]): void;
}

/** What the caches hold and found; for the tests and the step benchmark. */
export interface RecordCacheCounts {
  uniformBuffers: number;
  uniformHits: number;
  bindGroups: number;
  bindGroupHits: number;
  /** Dispatches recorded by tfjs' own recordAndSubmit (a timed profile, a texture, a program still compiling, a full cache). */
  fallbacks: number;
}

// Past these, a new uniform block goes through tfjs' own path and a bind group cache starts again: a computation whose
// uniforms change every step must not grow host or GPU memory without bound. B0's training step at 64 px, batch 4,
// needs 446 uniform blocks and about 1,100 bind groups.
export const recordCacheLimits = { uniformBuffers: 16384, bindGroups: 32768 };

/** Off: every dispatch goes through tfjs' own recordAndSubmit (the step benchmark's baseline, in the same run). */
export const recordCaching = { enabled: true };

/** A device's caches: uniform buffers by content, and bind groups by the identity of what they bind. */
class RecordCaches {
  readonly counts: RecordCacheCounts = { uniformBuffers: 0, uniformHits: 0, bindGroups: 0, bindGroupHits: 0, fallbacks: 0 };
  readonly programBindGroups = new BindGroupCache(this.counts);
  readonly directBindGroups = new BindGroupCache();
  private byHash = new Map<number, { words: Int32Array; binding: BufferBinding }[]>();

  constructor(readonly device: GPUDevice) {}

  /** The binding of a buffer holding `words`, written once; undefined when it is not cached and the cache is full. */
  uniform(words: Int32Array): BufferBinding | undefined {
    let hash = 0x811c9dc5;
    for (let i = 0; i < words.length; i++) hash = Math.imul(hash ^ words[i], 0x01000193);
    const entries = this.byHash.get(hash);
    const found = entries?.find((entry) => sameWords(entry.words, words));
    if (found) {
      this.counts.uniformHits++;
      return found.binding;
    }
    if (this.counts.uniformBuffers >= recordCacheLimits.uniformBuffers) return undefined;
    const size = words.byteLength;
    const buffer = this.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
    new Int32Array(buffer.getMappedRange()).set(words);
    buffer.unmap();
    const binding = { offset: 0, size, buffer };
    this.counts.uniformBuffers++;
    // The caller's words are a scratch view: the cache keeps its own copy.
    const entry = { words: words.slice(), binding };
    if (entries) entries.push(entry);
    else this.byHash.set(hash, [entry]);
    return binding;
  }

  /** Destroys the uniform buffers and drops every bind group; the commands that use them must have been submitted. */
  forget(): void {
    for (const entries of this.byHash.values()) for (const { binding } of entries) binding.buffer.destroy();
    this.byHash = new Map();
    this.counts.uniformBuffers = 0;
    this.programBindGroups.clear();
    this.directBindGroups.clear();
  }
}

interface Cached {
  bindings: BufferBinding[];
  bindGroup: GPUBindGroup;
}

/** The bind groups of one pipeline writing one buffer, and where the next lookup starts. */
interface CachedList {
  entries: Cached[];
  next: number;
}

/**
 * Bind groups by pipeline, then by the first bound buffer (the output), then by the rest compared one by one: a pipeline
 * writes a given pooled buffer from only a few places in a step, so the list to compare is short. A step asks for them in
 * the same order every time, so the search starts after the last one found: the next one is usually there.
 */
class BindGroupCache {
  private root = new WeakMap<GPUComputePipeline, WeakMap<GPUBuffer, CachedList>>();
  private created = 0;
  private readonly layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();

  constructor(private readonly counts?: RecordCacheCounts) {}

  get(device: GPUDevice, pipeline: GPUComputePipeline, bindings: BufferBinding[]): GPUBindGroup {
    const byFirst = getOrInsert(this.root, pipeline, () => new WeakMap<GPUBuffer, CachedList>());
    const list = getOrInsert(byFirst, bindings[0].buffer, (): CachedList => ({ entries: [], next: 0 }));
    const { entries } = list;
    for (let tried = 0; tried < entries.length; tried++) {
      const index = (list.next + tried) % entries.length;
      if (sameBindings(entries[index].bindings, bindings)) {
        list.next = index + 1;
        if (this.counts) this.counts.bindGroupHits++;
        return entries[index].bindGroup;
      }
    }
    const bindGroup = device.createBindGroup({
      layout: getOrInsert(this.layouts, pipeline, () => pipeline.getBindGroupLayout(0)),
      entries: bindings.map((resource, binding) => ({ binding, resource })),
    });
    if (++this.created > recordCacheLimits.bindGroups) this.clear();
    else entries.push({ bindings, bindGroup });
    if (this.counts) this.counts.bindGroups = this.created;
    return bindGroup;
  }

  clear(): void {
    this.root = new WeakMap();
    this.created = 0;
    if (this.counts) this.counts.bindGroups = 0;
  }
}

/** The same buffers over the same ranges, binding by binding. */
function sameBindings(a: BufferBinding[], b: BufferBinding[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].buffer !== b[i].buffer || a[i].offset !== b[i].offset || a[i].size !== b[i].size) return false;
  }
  return true;
}

const cachesByBackend = new WeakMap<object, RecordCaches>();

/** The cache counters of a backend that records with caches. */
export function recordCacheCounts(backend: object): RecordCacheCounts | undefined {
  return cachesByBackend.get(backend)?.counts;
}

/**
 * Destroys the cached uniform buffers and drops the cached bind groups, after tfjs' pending commands are submitted
 * (src/backend/webgpu-memory.ts releasePooledBuffers calls it): between training phases, and after an out-of-memory
 * error, whose failed allocation may have left an invalid buffer in the cache.
 */
export function forgetRecordCaches(backend: object): void {
  cachesByBackend.get(backend)?.forget();
}

/**
 * The bind group of `pipeline` over these buffer bindings (in binding order), created once and found again by the
 * buffers' identity, offsets and sizes: for streamfit's direct dispatches (src/kernels/webgpu/direct-dispatch.ts), whose
 * buffers come from the same pool. Uncached where the backend does not record with caches.
 */
export function cachedBindGroup(backend: object, pipeline: GPUComputePipeline, bindings: GPUBufferBinding[]): GPUBindGroup {
  const caches = cachesByBackend.get(backend);
  const { device } = backend as { device: GPUDevice };
  if (!caches || !recordCaching.enabled) {
    return device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: bindings.map((resource, binding) => ({ binding, resource })),
    });
  }
  return caches.directBindGroups.get(device, pipeline, bindings as BufferBinding[]);
}

/** Replaces the backend's recordAndSubmit with one that reuses uniform buffers and bind groups. */
export function recordWithCaches(backend: object): RecordCacheCounts {
  const recording = backend as RecordingBackend;
  const original = recording.recordAndSubmit;
  const caches = new RecordCaches(recording.device);
  const { counts } = caches;
  cachesByBackend.set(backend, caches);
  handOutInFixedOrder(recording.bufferManager);

  recording.recordAndSubmit = function (this: RecordingBackend, program, output, inputs, programUniforms) {
    if (!recordCaching.enabled) return original.call(this, program, output, inputs, programUniforms);
    const pipeline = program.pipeline;
    const bindings =
      pipeline instanceof Promise || program.pixelsOpType != null || this.activeTimers != null ? undefined : bound(this, output, inputs);
    const words = bindings && uniformWords(program, output, inputs, programUniforms);
    const uniform = words && caches.uniform(words);
    if (!bindings || !uniform) {
      counts.fallbacks++;
      return original.call(this, program, output, inputs, programUniforms);
    }
    bindings.push(uniform);
    const bindGroup = caches.programBindGroups.get(this.device, pipeline as GPUComputePipeline, bindings);

    for (const input of inputs) this.commandQueueOwnedIds.add(input.dataId);
    this.commandQueueOwnedIds.add(output.dataId);
    this.ensureCommandEncoderReady();
    this.computePassEncoder ??= this.commandEncoder!.beginComputePass();
    this.computePassEncoder.setPipeline(pipeline as GPUComputePipeline);
    this.computePassEncoder.setBindGroup(0, bindGroup);
    this.computePassEncoder.dispatchWorkgroups(program.dispatch[0], program.dispatch[1], program.dispatch[2]);
    this.dispatchCountInPass++;
    if (this.dispatchCountInPass >= Number(tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE'))) {
      this.endComputePassEncoder();
      this.submitQueue();
    }
  };
  return counts;
}

/** The output's and the inputs' buffers as whole-buffer bindings; undefined if one is a texture (tfjs' path then). */
function bound(backend: RecordingBackend, output: TensorInfoLike, inputs: TensorInfoLike[]): BufferBinding[] | undefined {
  const bindings: BufferBinding[] = [];
  for (let i = -1; i < inputs.length; i++) {
    const resource = backend.tensorMap.get((i < 0 ? output : inputs[i]).dataId).resource;
    if (!(resource instanceof GPUBuffer)) return undefined;
    bindings.push({ buffer: resource });
  }
  return bindings;
}

function getOrInsert<K extends object, V>(map: WeakMap<K, unknown>, key: K, make: () => V): V {
  let value = map.get(key) as V | undefined;
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

function sameWords(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
