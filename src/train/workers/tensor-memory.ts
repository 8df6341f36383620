// Direct access to a float32 tensor's memory where the backend keeps it in this thread's memory (tfjs-wasm's heap, tfjs'
// cpu arrays): the workers' gradient sums and the weights they share are read with one copy, and accumulators written
// and zeroed in place, without a read, a new tensor and an assignment per variable.

import * as tf from '@tensorflow/tfjs';
import { addressOf, makeOutput } from '../../kernels/compiled-kernels.ts';

interface BackendInternals {
  wasm?: { asm?: { memory?: WebAssembly.Memory } };
  refCount(dataId: tf.DataId): number;
  data?: { get(dataId: tf.DataId): { values?: unknown } | undefined };
}

/**
 * A view of the tensor's data, or undefined where it cannot be had (another backend, data not yet on the backend). The
 * view is only valid until the next allocation (the wasm heap may grow and detach it): use it at once.
 */
export function tensorMemory(tensor: tf.Tensor): Float32Array | undefined {
  if (tensor.dtype !== 'float32') return undefined;
  const backend = tf.backend() as unknown as BackendInternals;
  const name = tf.getBackend();
  if (name === 'wasm') {
    const memory = backend.wasm?.asm?.memory;
    if (!(memory instanceof WebAssembly.Memory)) return undefined;
    return new Float32Array(memory.buffer, addressOf(backend, tensor), tensor.size);
  }
  if (name === 'cpu') {
    const values = backend.data?.get(tensor.dataId)?.values;
    return values instanceof Float32Array && values.length === tensor.size ? values : undefined;
  }
  return undefined;
}

/**
 * Writes `values` into the variable in place where it owns its data; else assigns it a new tensor. Only for variables no
 * kernel caches anything of (accumulators): tfjs-wasm caches its XNNPACK operators, packed weights inside, by filter
 * tensor, so a model weight written in place would keep convolving with its old values (assignVariable is for those).
 */
export function writeVariable(variable: tf.Variable, values: Float32Array): void {
  const memory = ownsData(variable) ? tensorMemory(variable) : undefined;
  if (memory) {
    memory.set(values);
    return;
  }
  // A copy: tfjs' cpu backend keeps the array it is given, and `values` may be a view of shared memory.
  const copy = tf.tensor(values.slice(), variable.shape, 'float32');
  variable.assign(copy);
  copy.dispose();
}

/**
 * Gives the variable a new tensor holding a copy of `values` (model weights: see writeVariable). On wasm the copy goes
 * straight onto the heap: through tf.tensor it would be copied twice, and a worker loads the whole model every window.
 */
export function assignVariable(variable: tf.Variable, values: Float32Array): void {
  const copy = tensorOnHeap(values, variable.shape) ?? tf.tensor(values.slice(), variable.shape, 'float32');
  variable.assign(copy);
  copy.dispose();
}

/** A new float32 tensor on tfjs-wasm's heap holding `values`, or undefined on another backend. */
function tensorOnHeap(values: Float32Array, shape: number[]): tf.Tensor | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend();
  const tensor = tf.engine().makeTensorFromTensorInfo(makeOutput(backend, shape));
  tensorMemory(tensor)!.set(values); // a view taken after the allocation, which may have grown the heap
  return tensor;
}

/** Sets the variable to zeros, in place where it can (accumulators: see writeVariable). */
export function zeroVariable(variable: tf.Variable): void {
  const memory = ownsData(variable) ? tensorMemory(variable) : undefined;
  if (memory) memory.fill(0);
  else tf.tidy(() => variable.assign(tf.zerosLike(variable)));
}

function ownsData(variable: tf.Variable): boolean {
  return (tf.backend() as unknown as BackendInternals).refCount(variable.dataId) <= 1;
}

/** Copies the tensor's data into `target` at `offset` (synchronously: wasm and cpu keep it in this thread). */
export function readTensor(tensor: tf.Tensor, target: Float32Array, offset: number): void {
  const memory = tensorMemory(tensor);
  target.set(memory ?? (tensor.dataSync() as Float32Array), offset);
}
