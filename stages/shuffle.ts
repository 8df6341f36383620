// Shuffle: a bounded buffer (size in samples) drawn from at random, seeded by (seed, epoch).

import { seededRandom } from '../src/math/random.ts';
import { integer, wholeFrom } from '../src/stream/options.ts';
import { shuffleBuffer } from '../src/stream/shuffle-buffer.ts';
import { describedStage, type Stage } from '../src/stream/stage.ts';

export interface ShuffleOptions {
  /** Samples held at most. Default 1000. Encoded samples are small; decoded ones are not, so shuffle early. */
  bufferSize?: number;
  /** Default: the run's seed (the context's), else 0. */
  seed?: number;
}

export function shuffle<T>(options: ShuffleOptions = {}): Stage<T, T> {
  const bufferSize = wholeFrom('shuffle', 'bufferSize', options.bufferSize ?? 1000, 1);
  const seed = options.seed === undefined ? undefined : integer('shuffle', 'seed', options.seed);
  const info = { name: 'shuffle', options: { bufferSize, seed: seed ?? 'run' }, memory: { items: bufferSize, what: 'samples' } };
  return describedStage(info, (source: AsyncIterable<T>, context) =>
    shuffleBuffer(source, bufferSize, seededRandom(seed ?? context.seed ?? 0, context.epoch, 'shuffle')),
  );
}
