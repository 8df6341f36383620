// The SIMD kernels compiled from src/kernels/assembly/ into kernels.wasm, instantiated on tfjs-wasm's own memory: they read
// and write tensors where tfjs keeps them, with no copy in or out.

import { readFileSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs';

type Pointer = number;

/** The exports of kernels.wasm; every pointer is a byte address on tfjs-wasm's heap. */
export interface CompiledKernels {
  depthwiseFilterGradient(x: Pointer, dy: Pointer, output: Pointer, sums: Pointer, ...shape: number[]): void;
  depthwiseInputGradient(dy: Pointer, filter: Pointer, dx: Pointer, ...shape: number[]): void;
  convFilterGradient(x: Pointer, dy: Pointer, output: Pointer, sums: Pointer, ...shape: number[]): void;
  pointwiseFilterGradient(
    x: Pointer,
    dy: Pointer,
    output: Pointer,
    sums: Pointer,
    rows: number,
    inChannels: number,
    outChannels: number,
  ): void;
  adamUpdate(table: Pointer, count: number, ...scalars: number[]): void;
  momentumUpdate(table: Pointer, count: number, momentum: number, negativeRate: number, nesterov: number): void;
  sgdUpdate(table: Pointer, count: number, negativeRate: number): void;
  rmspropUpdate(table: Pointer, count: number, ...scalars: number[]): void;
  batchNormalize(
    x: Pointer,
    output: Pointer,
    mean: Pointer,
    variance: Pointer,
    scale: Pointer,
    offset: Pointer,
    factors: Pointer,
    rows: number,
    channels: number,
    epsilon: number,
  ): void;
  /** Training-mode BatchNorm's dγ, dβ and (dx ≠ 0) dx; `scale` 0 = γ of ones; `scratch`: 36·channels bytes. */
  batchNormBackward(
    dy: Pointer,
    x: Pointer,
    mean: Pointer,
    variance: Pointer,
    scale: Pointer,
    dx: Pointer,
    dScale: Pointer,
    dOffset: Pointer,
    scratch: Pointer,
    rows: number,
    channels: number,
    epsilon: number,
  ): void;
  /** Per-channel mean and variance over the rows of [rows, channels]; `scratch`: 12·channels bytes. */
  channelMoments(x: Pointer, mean: Pointer, variance: Pointer, scratch: Pointer, rows: number, channels: number): void;
  /** In place: moving ← moving − (moving − batch)·complement, for the mean and the variance. */
  updateMovingStatistics(
    movingMean: Pointer,
    movingVariance: Pointer,
    mean: Pointer,
    variance: Pointer,
    channels: number,
    complement: number,
  ): void;
  copyBlocks(source: Pointer, target: Pointer, bytes: number, ...countsAndStrides: number[]): void;
  pointwiseInputGradient(
    dy: Pointer,
    filter: Pointer,
    dx: Pointer,
    transposed: Pointer,
    rows: number,
    inChannels: number,
    outChannels: number,
  ): void;
  pointwiseConvolution(x: Pointer, filter: Pointer, bias: Pointer, y: Pointer, rows: number, inChannels: number, outChannels: number): void;
  swishGradient(x: Pointer, dy: Pointer, dx: Pointer, size: number): void;
  sumMiddleAxis(
    x: Pointer,
    output: Pointer,
    partial: Pointer,
    sums: Pointer,
    outer: number,
    reduce: number,
    inner: number,
    scale: number,
  ): void;
}

interface WasmBackend {
  wasm: { asm: { memory: WebAssembly.Memory }; _malloc(bytes: number): number; _free(pointer: number): void };
  getMemoryOffset(dataId: tf.DataId): number;
  makeOutput(shape: number[], dtype: 'float32' | 'int32'): tf.TensorInfo;
}

let compiled: WebAssembly.Module | undefined;
const instances = new WeakMap<object, CompiledKernels>();

/** The kernels bound to this wasm backend's memory (instantiated once per backend). */
export function compiledKernels(backend: unknown): CompiledKernels {
  const wasmBackend = backend as WasmBackend;
  let kernels = instances.get(wasmBackend);
  if (!kernels) {
    const memory = wasmBackend.wasm?.asm?.memory;
    // tfjs-wasm's single-threaded build (the one Node runs) exports its memory; the threaded build's is shared and not handled.
    if (!(memory instanceof WebAssembly.Memory) || memory.buffer instanceof SharedArrayBuffer)
      throw new Error('compiled wasm kernels: the backend is not tfjs-wasm 4.22 single-threaded (no exported, unshared memory)');
    compiled ??= new WebAssembly.Module(readFileSync(new URL('./assembly/kernels.wasm', import.meta.url)));
    const instance = new WebAssembly.Instance(compiled, { env: { memory } });
    kernels = instance.exports as unknown as CompiledKernels;
    instances.set(wasmBackend, kernels);
  }
  return kernels;
}

/** The heap address of a tensor's data. */
export function addressOf(backend: unknown, info: tf.TensorInfo): Pointer {
  return (backend as WasmBackend).getMemoryOffset(info.dataId) >>> 0;
}

/** A new tensor on the heap (allocation may grow the heap, so take addresses after it). */
export function makeOutput(backend: unknown, shape: number[], dtype: 'float32' | 'int32' = 'float32'): tf.TensorInfo {
  return (backend as WasmBackend).makeOutput(shape, dtype);
}

/** Runs `use` with `bytes` of scratch memory on the heap, freed afterwards. */
export function withScratch<T>(backend: unknown, bytes: number, use: (pointer: Pointer) => T): T {
  const { wasm } = backend as WasmBackend;
  const pointer = wasm._malloc(bytes) >>> 0;
  if (pointer === 0) throw new Error(`wasm heap: cannot allocate ${bytes} bytes of kernel scratch memory`);
  try {
    return use(pointer);
  } finally {
    wasm._free(pointer);
  }
}
