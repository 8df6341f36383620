// Split: a deterministic train/validation split by a hash of each key, so adding files never moves an existing one across.

import type { SampleInfo } from '../src/data/samples.ts';
import { isValidationKey, type Subset } from '../src/data/split-key.ts';
import type { Stage } from '../src/stream/stage.ts';

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
  const validation = options.validation ?? 0.2;
  const wantValidation = options.subset === 'validation';
  return async function* (source) {
    for await (const sample of source) {
      if (isValidationKey(sample.key, validation, options.seed) === wantValidation) yield sample;
    }
  };
}
