// Checks of stage options when a stage is made, in p-queue's words: `Expected \`concurrency\` to be a number from 1 and up,
// got \`0\` (number)`. A bad option fails the pipeline file at once, not halfway through an epoch.

import { OptionError } from '../errors.ts';
import type { ErrorPolicy } from './error-policy.ts';

/** A whole number from `minimum` up (concurrency, sizes, byte bounds). */
export function wholeFrom(stage: string, option: string, value: unknown, minimum: number): number {
  if (typeof value !== 'number' || !(value >= minimum)) throw new OptionError(stage, option, `a number from ${minimum} and up`, value);
  if (!Number.isInteger(value)) throw new OptionError(stage, option, `a whole number from ${minimum} and up`, value);
  return value;
}

/** A number in [low, high] (fractions, jitter strengths). */
export function numberIn(stage: string, option: string, value: unknown, low: number, high: number): number {
  if (typeof value !== 'number' || !(value >= low && value <= high))
    throw new OptionError(stage, option, `a number from ${low} to ${high}`, value);
  return value;
}

/** Any integer (seeds). */
export function integer(stage: string, option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new OptionError(stage, option, 'an integer', value);
  return value;
}

export function boolean(stage: string, option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new OptionError(stage, option, 'a boolean', value);
  return value;
}

export function oneOf<const T extends string>(stage: string, option: string, value: unknown, choices: readonly T[]): T {
  if (!choices.includes(value as T)) throw new OptionError(stage, option, `one of ${choices.map((c) => `'${c}'`).join(', ')}`, value);
  return value as T;
}

/** A [low, high] pair with low ≤ high, both in [minimum, maximum]. */
export function rangeIn(stage: string, option: string, value: unknown, minimum: number, maximum: number): [number, number] {
  const pair = value as [number, number];
  const ok =
    Array.isArray(value) &&
    value.length === 2 &&
    pair.every((n) => typeof n === 'number' && n >= minimum && n <= maximum) &&
    pair[0] <= pair[1];
  if (!ok) throw new OptionError(stage, option, `a [low, high] pair with ${minimum} ≤ low ≤ high ≤ ${maximum}`, value);
  return pair;
}

/** An `onError` option: 'quarantine', 'stop' or a function deciding per error. */
export function checkErrorPolicy(stage: string, value: unknown): ErrorPolicy {
  if (value === 'quarantine' || value === 'stop' || typeof value === 'function') return value as ErrorPolicy;
  throw new OptionError(stage, 'onError', "'quarantine', 'stop' or a function (error, kind, origin) => 'quarantine' | 'stop'", value);
}
