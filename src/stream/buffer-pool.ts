// Reuses large typed arrays (batch buffers): fresh multi-megabyte allocations cost page faults and zero-filling on every batch.

export type PooledArray = Float32Array | Uint16Array | Uint8Array;
type ArrayConstructor = new (length: number) => PooledArray;

export interface BufferPoolOptions {
  /** Spare arrays kept for reuse; more are left to the garbage collector. Default 4. */
  maxSpare?: number;
}

export class BufferPool {
  private readonly spare: PooledArray[] = [];
  private readonly maxSpare: number;
  allocated = 0;
  reused = 0;

  constructor(options: BufferPoolOptions = {}) {
    this.maxSpare = options.maxSpare ?? 4;
  }

  get spareCount(): number {
    return this.spare.length;
  }

  /** An array of this type and length; its contents are whatever the last user left. */
  acquire<T extends PooledArray>(type: new (length: number) => T, length: number): T {
    const index = this.spare.findIndex((array) => array.constructor === type && array.length === length);
    if (index >= 0) {
      this.reused++;
      return this.spare.splice(index, 1)[0] as T;
    }
    this.allocated++;
    return new (type as ArrayConstructor)(length) as T;
  }

  release(array: PooledArray): void {
    if (this.spare.length < this.maxSpare && !this.spare.includes(array)) this.spare.push(array);
  }
}
