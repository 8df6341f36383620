// Progress through one micro-batch whose chunks add their gradients straight into the accumulators, kept across
// out-of-memory retries: finished chunks are not redone, and a chunk that failed part-way (its backward pass had already
// added the gradients of the layers above the failure) is redone in smaller chunks that skip exactly those variables. So
// every sample's gradient is added once, without a second copy of the gradients to make the micro-batch all-or-nothing.

import type * as tf from '@tensorflow/tfjs';

export interface Chunk {
  start: number;
  end: number;
  /** Variables whose gradient for these samples is already in the accumulators. */
  skip: ReadonlySet<tf.Variable>;
}

export class MicroBatchProgress {
  next = 0;
  /** For samples below `until`, the gradients of `variables` are already added. */
  private readonly done: Array<{ until: number; variables: Set<tf.Variable> }> = [];

  constructor(
    readonly batch: object,
    readonly samples: number,
  ) {}

  get finished(): boolean {
    return this.next >= this.samples;
  }

  /** The next chunk of at most `size` samples, ending where a part-done range ends so that one skip set covers all of it. */
  nextChunk(size: number): Chunk {
    const start = this.next;
    const covering = this.done.filter((range) => range.until > start);
    const end = Math.min(this.samples, start + size, ...covering.map((range) => range.until));
    return { start, end, skip: new Set(covering.flatMap((range) => [...range.variables])) };
  }

  completed(chunk: Chunk): void {
    this.next = chunk.end;
  }

  /** The chunk failed after adding the gradients of `added` (for all its samples). */
  failed(chunk: Chunk, added: ReadonlySet<tf.Variable>): void {
    if (added.size > 0) this.done.push({ until: chunk.end, variables: new Set(added) });
  }
}
