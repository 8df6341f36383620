// Prefetch: runs the upstream ahead into a queue bounded in bytes and count; reports depth and who waited for whom.

import { ByteQueue } from '../src/stream/byte-queue.ts';
import { wholeFrom } from '../src/stream/options.ts';
import type { Stage, StageContext, StageInfo } from '../src/stream/stage.ts';

export interface PrefetchOptions {
  /** Bytes held at most (plus the one item the producer is holding). Default 256 MiB. */
  maxBytes?: number;
  /** Items held at most. Default 16. */
  maxItems?: number;
}

/** What the queue holds: items that say their size, as batches do (a prefetch before `batch` does not compile). */
export interface Sized {
  bytes: number;
}

export interface PrefetchStats {
  depth: number;
  bytes: number;
  peakDepth: number;
  peakBytes: number;
  /** Time the producer waited for room: the consumer (trainer) is the bottleneck. */
  producerStallMs: number;
  /** Time the consumer waited for an item: the data pipeline is the bottleneck. */
  consumerStallMs: number;
}

export type PrefetchStage<T> = Stage<T, T> & { readonly stats: PrefetchStats };

export function prefetch<T extends Sized>(options: PrefetchOptions = {}): PrefetchStage<T> {
  const maxBytes = wholeFrom('prefetch', 'maxBytes', options.maxBytes ?? 256 * 2 ** 20, 1);
  const maxItems = wholeFrom('prefetch', 'maxItems', options.maxItems ?? 16, 1);
  const sizeOf = (item: T) => item.bytes;
  const info: StageInfo = {
    name: 'prefetch',
    options: { maxBytes, maxItems },
    memory: { items: maxItems, bytes: maxBytes, what: 'items' },
  };
  let queue: ByteQueue<T> | undefined;
  const stalls = { producerStallMs: 0, consumerStallMs: 0 };

  const stage = async function* (source: AsyncIterable<T>, context?: StageContext) {
    const current = new ByteQueue<T>({ maxBytes, maxItems });
    queue = current;
    context?.gauges?.set('queue', () => (stage as unknown as PrefetchStage<T>).stats);
    let finished = false;
    let stopped = false;
    let failure: unknown;

    const produce = async () => {
      const iterator = source[Symbol.asyncIterator]();
      try {
        while (!stopped) {
          const next = await iterator.next();
          if (next.done) break;
          const bytes = sizeOf(next.value);
          while (!stopped && !current.hasRoomFor(bytes)) {
            const start = performance.now();
            await current.changed('producer');
            stalls.producerStallMs += performance.now() - start;
          }
          if (!stopped) current.push(next.value, bytes);
        }
      } catch (error) {
        failure = error;
      } finally {
        if (stopped) await iterator.return?.();
        finished = true;
        current.wakeAll();
      }
    };
    const producing = produce();

    try {
      while (true) {
        if (current.depth > 0) {
          yield current.shift() as T;
          continue;
        }
        if (finished) break;
        const start = performance.now();
        await current.changed('consumer');
        stalls.consumerStallMs += performance.now() - start;
      }
      if (failure !== undefined) throw failure;
    } finally {
      stopped = true;
      current.wakeAll();
      await producing;
    }
  };

  // defineProperty, not Object.assign: the stats must be read live, not copied once.
  return Object.defineProperty(Object.assign(stage, { info }), 'stats', {
    get(): PrefetchStats {
      return {
        depth: queue?.depth ?? 0,
        bytes: queue?.bytes ?? 0,
        peakDepth: queue?.peakDepth ?? 0,
        peakBytes: queue?.peakBytes ?? 0,
        producerStallMs: stalls.producerStallMs,
        consumerStallMs: stalls.consumerStallMs,
      };
    },
  }) as unknown as PrefetchStage<T>;
}
