// Shuffle: a bounded buffer (size in samples) drawn from at random, seeded by (seed, epoch).

import { seededRandom } from '../src/math/random.ts';
import type { Stage } from '../src/stream/stage.ts';

export interface ShuffleOptions {
  /** Samples held at most. Default 1000. Encoded samples are small; decoded ones are not, so shuffle early. */
  bufferSize?: number;
  seed?: number;
}

export function shuffle<T>(options: ShuffleOptions = {}): Stage<T, T> {
  const bufferSize = Math.max(1, options.bufferSize ?? 1000);
  const seed = options.seed ?? 0;
  return async function* (source, context) {
    const random = seededRandom(seed, context.epoch, 'shuffle');
    const buffer: T[] = [];
    for await (const item of source) {
      if (buffer.length < bufferSize) {
        buffer.push(item);
        continue;
      }
      const index = Math.floor(random() * bufferSize);
      yield buffer[index];
      buffer[index] = item;
    }
    while (buffer.length > 0) {
      const index = Math.floor(random() * buffer.length);
      yield buffer[index];
      buffer[index] = buffer[buffer.length - 1];
      buffer.pop();
    }
  };
}
