// Makes tfjs' buffer pool hand out, of the free buffers of a size, always the one it first saw earliest. tfjs pops the
// one freed last, so the order of a step's releases permutes the free lists and the same dispatch of the next step binds
// other buffers: B0's bind groups were found again for 10–12 % of a warm step's dispatches. With a fixed order, a step
// that starts with the same buffers free binds the same ones as the last, and webgpu-cached-record.ts finds them all.
/// <reference types="@webgpu/types" />

export interface BufferPool {
  freeBuffers: Map<string, GPUBuffer[]>;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
}

export function handOutInFixedOrder(pool: BufferPool): void {
  const order = new WeakMap<GPUBuffer, number>();
  let seen = 0;
  const rank = (buffer: GPUBuffer) => {
    let value = order.get(buffer);
    if (value === undefined) {
      value = seen++;
      order.set(buffer, value);
    }
    return value;
  };
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
