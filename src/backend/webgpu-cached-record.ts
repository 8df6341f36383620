// Records a tfjs program's dispatch with its uniform buffer and bind group taken from caches. On a fast GPU a training
// step is host-bound, and tfjs' recordAndSubmit spends much of each dispatch's host time on objects that are the same
// every step: it writes a fresh uniform buffer (shapes, strides, the program's scalars) and creates a bind group over the
// pool's buffers. A step repeats the same programs over the same shapes, and once the pool hands out its buffers in a
// fixed order (handOutInFixedOrder) the same dispatch binds the same buffers, so both are found again after a few warm
// steps. Measured on an H100 box, createBindGroup alone took 11.7 µs of a dispatch's host time; B0's whole step at 224 px,
// batch 32, took 1.49× less host time (bench/webgpu-dispatches.ts --host-only).
/// <reference types="@webgpu/types" />

import * as tf from '@tensorflow/tfjs';

interface ProgramLike {
  pipeline: GPUComputePipeline | Promise<GPUComputePipeline>;
  pixelsOpType?: unknown;
  size?: boolean;
  outputShape: number[];
  outputComponent?: number;
  dispatch: [number, number, number];
}

interface TensorInfoLike {
  dataId: object;
  shape: number[];
}

interface UniformField {
  type: string;
  data: number[];
}

interface BufferPool {
  freeBuffers: Map<string, GPUBuffer[]>;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
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

/** What the caches hold; exposed for the tests and the step benchmark. */
export interface RecordCacheCounts {
  uniformBuffers: number;
  uniformHits: number;
  bindGroups: number;
  bindGroupHits: number;
  /** Dispatches recorded by tfjs' own recordAndSubmit (a timed profile, a texture, a program still compiling). */
  fallbacks: number;
}

// Past these, a new uniform block goes through tfjs' own path and the bind group cache starts again: a computation whose
// uniforms change every step must not grow host or GPU memory without bound. B0's training step at 64 px, batch 4,
// needs 446 uniform blocks and about 1,100 bind groups.
export const recordCacheLimits = { uniformBuffers: 16384, bindGroups: 32768 };

/** Off: every dispatch goes through tfjs' own recordAndSubmit (the step benchmark's baseline, in the same run). */
export const recordCaching = { enabled: true };

const countsByBackend = new WeakMap<object, RecordCacheCounts>();

/** The cache counters of a backend that records with caches. */
export function recordCacheCounts(backend: object): RecordCacheCounts | undefined {
  return countsByBackend.get(backend);
}

/** Replaces the backend's recordAndSubmit with one that reuses uniform buffers and bind groups. */
export function recordWithCaches(backend: object): RecordCacheCounts {
  const recording = backend as RecordingBackend;
  const original = recording.recordAndSubmit;
  const counts: RecordCacheCounts = { uniformBuffers: 0, uniformHits: 0, bindGroups: 0, bindGroupHits: 0, fallbacks: 0 };
  handOutInFixedOrder(recording.bufferManager);
  const uniforms = new UniformCache(recording.device, counts);
  let bindGroups = new WeakMap<object, unknown>();
  const layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();

  recording.recordAndSubmit = function (this: RecordingBackend, program, output, inputs, programUniforms) {
    const pipeline = program.pipeline;
    if (!recordCaching.enabled) return original.call(this, program, output, inputs, programUniforms);
    if (pipeline instanceof Promise || program.pixelsOpType != null || this.activeTimers != null) {
      counts.fallbacks++;
      return original.call(this, program, output, inputs, programUniforms);
    }
    const buffers: GPUBuffer[] = [];
    for (const tensor of [output, ...inputs]) {
      const resource = this.tensorMap.get(tensor.dataId).resource;
      if (!(resource instanceof GPUBuffer)) {
        counts.fallbacks++;
        return original.call(this, program, output, inputs, programUniforms);
      }
      buffers.push(resource);
    }
    const uniform = uniforms.binding(uniformWords(program, output, inputs, programUniforms));
    if (!uniform) {
      counts.fallbacks++;
      return original.call(this, program, output, inputs, programUniforms);
    }
    buffers.push(uniform.buffer);

    // One WeakMap level per bound buffer, the pipeline first: a bind group is found by the identity of what it binds.
    let level = getOrInsert(bindGroups, pipeline, () => new WeakMap<object, unknown>());
    for (let i = 0; i < buffers.length - 1; i++) level = getOrInsert(level, buffers[i], () => new WeakMap<object, unknown>());
    let bindGroup = level.get(uniform.buffer) as GPUBindGroup | undefined;
    if (bindGroup) counts.bindGroupHits++;
    else {
      bindGroup = this.device.createBindGroup({
        layout: getOrInsert(layouts, pipeline, () => pipeline.getBindGroupLayout(0)),
        entries: buffers.map((buffer, binding) =>
          binding === buffers.length - 1 ? { binding, resource: uniform } : { binding, resource: { buffer } },
        ),
      });
      if (++counts.bindGroups > recordCacheLimits.bindGroups) {
        bindGroups = new WeakMap();
        counts.bindGroups = 0;
      } else level.set(uniform.buffer, bindGroup);
    }

    for (const input of inputs) this.commandQueueOwnedIds.add(input.dataId);
    this.commandQueueOwnedIds.add(output.dataId);
    this.ensureCommandEncoderReady();
    this.computePassEncoder ??= this.commandEncoder!.beginComputePass();
    this.computePassEncoder.setPipeline(pipeline);
    this.computePassEncoder.setBindGroup(0, bindGroup);
    this.computePassEncoder.dispatchWorkgroups(program.dispatch[0], program.dispatch[1], program.dispatch[2]);
    this.dispatchCountInPass++;
    if (this.dispatchCountInPass >= Number(tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE'))) {
      this.endComputePassEncoder();
      this.submitQueue();
    }
  };
  countsByBackend.set(backend, counts);
  return counts;
}

const directBindGroups = new WeakMap<GPUDevice, { root: WeakMap<object, unknown>; created: number }>();

/**
 * The bind group of `pipeline` over these buffer bindings (in binding order), created once and found again by the
 * buffers' identity, offsets and sizes: for streamfit's direct dispatches (src/kernels/webgpu/direct-dispatch.ts), whose
 * buffers come from the same pool.
 */
export function cachedBindGroup(device: GPUDevice, pipeline: GPUComputePipeline, bindings: GPUBufferBinding[]): GPUBindGroup {
  const cache = getOrInsert(directBindGroups, device, () => ({ root: new WeakMap<object, unknown>(), created: 0 }));
  let level = getOrInsert(cache.root, pipeline, () => new WeakMap<object, unknown>());
  for (const { buffer } of bindings) level = getOrInsert(level, buffer, () => new WeakMap<object, unknown>());
  const ranges = getOrInsert(level, pipeline, () => new Map<string, GPUBindGroup>());
  const key = bindings.map(({ offset, size }) => `${offset ?? 0}:${size ?? ''}`).join(',');
  let bindGroup = ranges.get(key);
  if (!bindGroup) {
    bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: bindings.map((resource, binding) => ({ binding, resource })),
    });
    if (++cache.created > recordCacheLimits.bindGroups) directBindGroups.delete(device);
    else ranges.set(key, bindGroup);
  }
  return bindGroup;
}

/**
 * Makes tfjs' pool hand out, of the free buffers of a size, always the one it first saw earliest. tfjs pops the one
 * freed last, so the order of a step's releases permutes the free lists, and the same dispatch of the next step binds
 * other buffers: B0's bind groups were found again for 12 % of dispatches in a warm step, 64 % after 30 steps. With a
 * fixed order a step that starts with the same buffers free binds the same ones as the last.
 */
export function handOutInFixedOrder(pool: BufferPool): void {
  const order = new WeakMap<GPUBuffer, number>();
  let seen = 0;
  const rank = (buffer: GPUBuffer) => getOrInsert(order, buffer, () => seen++);
  const release = pool.releaseBuffer;
  pool.releaseBuffer = function (this: BufferPool, buffer, reuse = true) {
    release.call(this, buffer, reuse);
    if (!reuse) return;
    // The free list is kept in decreasing rank, so tfjs' pop() takes the lowest: the released buffer moves down to its place.
    const list = this.freeBuffers.get(`${buffer.size}_${buffer.usage}`);
    if (!list || list[list.length - 1] !== buffer) return;
    const value = rank(buffer);
    let i = list.length - 1;
    while (i > 0 && rank(list[i - 1]) < value) {
      list[i] = list[i - 1];
      i--;
    }
    list[i] = buffer;
  };
}

/**
 * The uniform block tfjs 4.22 writes for a program (backend_webgpu.ts, recordAndSubmit and makeUniforms): NaN and
 * Infinity, each input's and the output's shape and strides, the output size when the program asks for it, then the
 * program's own fields, each aligned as WGSL aligns it. Returned as 32-bit words, padding zeroed, in a view of one scratch
 * array that the next call overwrites (this runs for every dispatch, so it allocates nothing).
 */
export function uniformWords(
  program: Pick<ProgramLike, 'size' | 'outputShape' | 'outputComponent'>,
  output: { shape: number[] },
  inputs: { shape: number[] }[],
  programUniforms: UniformField[] = [],
): Int32Array {
  const block = new UniformBlock();
  block.float(Number.NaN);
  block.float(Number.POSITIVE_INFINITY);
  for (let i = 0; i <= inputs.length; i++) {
    const shape = i < inputs.length ? inputs[i].shape : output.shape;
    block.shapeAndStrides(shape);
  }
  if (program.size) {
    let size = 1;
    for (const n of program.outputShape) size *= n;
    block.field('int32', [program.outputComponent ? size / program.outputComponent : size]);
  }
  for (const { type, data } of programUniforms) block.field(type, data);
  return block.words();
}

const scratch = new Int32Array(1024);
let scratchUsed = scratch.length;
const scratchFloats = new Float32Array(scratch.buffer);
const scratchUnsigned = new Uint32Array(scratch.buffer);

/** Fields laid out one after the other in `scratch`, offsets and lengths in 32-bit words. */
class UniformBlock {
  private offset = 0;
  private previousLength = 0;
  private maxAlignment = 1;

  constructor() {
    scratch.fill(0, 0, scratchUsed);
  }

  float(value: number): void {
    scratchFloats[this.place(1)] = value;
  }

  field(type: string, data: ArrayLike<number>): void {
    // tfjs writes an empty field as [1].
    if (data.length === 0) {
      scratch[this.place(1)] = 1;
      return;
    }
    const start = this.place(data.length);
    const view = type === 'int32' ? scratch : type === 'uint32' ? scratchUnsigned : scratchFloats;
    for (let j = 0; j < data.length; j++) view[start + j] = data[j];
  }

  /** A shape, then its strides (tf.util.computeStrides: one fewer than the rank, [1] below rank 2). */
  shapeAndStrides(shape: number[]): void {
    this.field('int32', shape);
    const rank = shape.length;
    if (rank < 2) {
      scratch[this.place(1)] = 1;
      return;
    }
    const start = this.place(rank - 1);
    let stride = 1;
    for (let i = rank - 1; i > 0; i--) {
      stride *= shape[i];
      scratch[start + i - 1] = stride;
    }
  }

  words(): Int32Array {
    scratchUsed = Math.ceil(this.offset / this.maxAlignment) * this.maxAlignment;
    return scratch.subarray(0, scratchUsed);
  }

  private place(length: number): number {
    if (length > 6) throw new Error(`Unsupported ${length}D shape in a webgpu program's uniforms`);
    // A vec2 aligns to 2 words, vec3 to vec6 (tfjs' structs) to 4, and whatever follows a vec5 or vec6 to 4 too.
    let alignment = length === 1 ? 1 : length === 2 ? 2 : 4;
    if (this.previousLength === 5 || this.previousLength === 6) alignment = 4;
    if (alignment > this.maxAlignment) this.maxAlignment = alignment;
    const start = Math.ceil(this.offset / alignment) * alignment;
    if (start + length > scratch.length) throw new Error("a webgpu program's uniforms exceed 4 KiB");
    this.offset = start + length;
    this.previousLength = length;
    return start;
  }
}

/** Uniform buffers by content, written once at creation and never again, so a recorded dispatch can always rely on them. */
class UniformCache {
  private readonly byHash = new Map<number, { words: Int32Array; binding: GPUBufferBinding }[]>();

  constructor(
    private readonly device: GPUDevice,
    private readonly counts: RecordCacheCounts,
  ) {}

  /** The binding of a buffer holding `words`; undefined when it is not cached and the cache is full. */
  binding(words: Int32Array): (GPUBufferBinding & { buffer: GPUBuffer }) | undefined {
    let hash = 0x811c9dc5;
    for (let i = 0; i < words.length; i++) hash = Math.imul(hash ^ words[i], 0x01000193);
    const entries = this.byHash.get(hash);
    const found = entries?.find((entry) => sameWords(entry.words, words));
    if (found) {
      this.counts.uniformHits++;
      return found.binding as GPUBufferBinding & { buffer: GPUBuffer };
    }
    if (this.counts.uniformBuffers >= recordCacheLimits.uniformBuffers) return undefined;
    const size = words.byteLength;
    const buffer = this.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
    new Int32Array(buffer.getMappedRange()).set(words);
    buffer.unmap();
    const binding = { offset: 0, size, buffer };
    this.counts.uniformBuffers++;
    // The caller's words are a scratch view: the cache keeps its own copy.
    const kept = words.slice();
    if (entries) entries.push({ words: kept, binding });
    else this.byHash.set(hash, [{ words: kept, binding }]);
    return binding;
  }
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
