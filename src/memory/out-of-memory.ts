// Recognises out-of-memory failures from every backend, and the budget the user sets with --memory.

import { StreamfitError } from '../errors.ts';

export class MemoryBudgetExceeded extends StreamfitError {
  constructor(
    readonly peakBytes: number,
    readonly budgetBytes: number,
  ) {
    super(`out of memory: the step peaked at ${peakBytes} bytes, over the --memory budget of ${budgetBytes} bytes`);
  }
}

const patterns = [
  /OOM when allocating/i, // tfjs-node(-gpu): TensorFlow's ResourceExhaustedError
  /ResourceExhausted/i,
  /out of memory/i, // wasm heap growth failure, CUDA
  /Array buffer allocation failed/i, // V8 could not allocate a host buffer
  /Cannot enlarge memory/i, // emscripten heap limit
];

export function isOutOfMemory(error: unknown): boolean {
  if (error instanceof MemoryBudgetExceeded) return true;
  const message = error instanceof Error ? error.message : String(error);
  return patterns.some((pattern) => pattern.test(message));
}
