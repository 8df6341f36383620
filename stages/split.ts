// Split: a deterministic train/validation split by a hash of each key, so adding files never moves an existing one across.

import type { SampleInfo } from '../src/data/samples.ts';
import { isValidationKey, type Subset } from '../src/data/split-key.ts';
import { integer, numberIn, oneOf } from '../src/stream/options.ts';
import { describedStage, type Stage } from '../src/stream/stage.ts';

export { isValidationKey } from '../src/data/split-key.ts';

export interface SplitOptions {
  /** Fraction of keys that belong to validation. Default 0.2. */
  validation?: number;
  /** Which side to keep. */
  subset: Subset;
  /** Changes which keys fall on which side. Default 0. */
  seed?: number;
}

export function split<T extends SampleInfo>(options: SplitOptions): Stage<T, T> {
  const subset = oneOf('split', 'subset', options?.subset, ['train', 'validation']);
  const validation = numberIn('split', 'validation', options.validation ?? 0.2, 0, 1);
  const seed = integer('split', 'seed', options.seed ?? 0);
  const wantValidation = subset === 'validation';
  return describedStage({ name: 'split', options: { subset, validation, seed } }, async function* (source: AsyncIterable<T>) {
    for await (const sample of source) {
      if (isValidationKey(sample.key, validation, seed) === wantValidation) yield sample;
    }
  });
}
