// Shuffle: a bounded buffer (size in samples) drawn from at random, seeded by (seed, epoch).

import { seededRandom } from '../src/math/random.ts';
import { integer, wholeFrom } from '../src/stream/options.ts';
import { describedStage, type Stage } from '../src/stream/stage.ts';

export interface ShuffleOptions {
  /** Samples held at most. Default 1000. Encoded samples are small; decoded ones are not, so shuffle early. */
  bufferSize?: number;
  seed?: number;
}

export function shuffle<T>(options: ShuffleOptions = {}): Stage<T, T> {
  const bufferSize = wholeFrom('shuffle', 'bufferSize', options.bufferSize ?? 1000, 1);
  const seed = integer('shuffle', 'seed', options.seed ?? 0);
  const info = { name: 'shuffle', options: { bufferSize, seed }, memory: { items: bufferSize, what: 'samples' } };
  return describedStage(info, async function* (source: AsyncIterable<T>, context) {
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
  });
}
