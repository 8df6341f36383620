// Which side of the train/validation split a key falls on: a hash of the key, so adding files never moves one across.

import { hashToUnit } from '../math/random.ts';

export type Subset = 'train' | 'validation';

export function isValidationKey(key: string, validation: number, seed = 0): boolean {
  return hashToUnit(key, seed) < validation;
}
