// Deterministic hashing and seeded random numbers: results depend on (seed, epoch, key, step), never on timing.

/** 32-bit FNV-1a of a string's UTF-8 bytes, mixed with a seed. */
export function hashString(text: string, seed = 0): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  const bytes = Buffer.from(text, 'utf8');
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return finalizeHash(hash);
}

/** murmur3's finalizer: spreads nearby inputs over the whole 32-bit range. */
export function finalizeHash(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform number in [0, 1) fixed by the key and seed. */
export function hashToUnit(text: string, seed = 0): number {
  return hashString(text, seed) / 2 ** 32;
}

/** A seedable generator (mulberry32) returning uniform numbers in [0, 1). */
export function seededRandom(...seeds: Array<number | string>): () => number {
  let state = 0x9e3779b9;
  for (const part of seeds) {
    state = finalizeHash(state ^ (typeof part === 'number' ? finalizeHash(part >>> 0) ^ Math.floor(part / 2 ** 32) : hashString(part)));
  }
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A 32-bit seed fixed by the parts, never 0: tfjs takes a seed of 0 for "no seed" and draws one from Math.random. */
export function seedOf(...parts: Array<number | string>): number {
  return Math.floor(seededRandom(...parts)() * 2 ** 32) || 1;
}

/**
 * Runs `build` with Math.random replaced by a generator seeded from `seeds`. tfjs draws the seed of every initializer that
 * was given none from Math.random (tfjs-core's rand_util.ts: `seed ? seed : Math.random()`), and no model family passes
 * one, so a model built inside is the same every time. `build` must be synchronous: nothing else may run while
 * Math.random is replaced.
 */
export function withSeededMathRandom<T>(build: () => T, ...seeds: Array<number | string>): T {
  const original = Math.random;
  Math.random = seededRandom(...seeds, 'Math.random');
  try {
    const result = build();
    if (result instanceof Promise) throw new TypeError('withSeededMathRandom: `build` must be synchronous');
    return result;
  } finally {
    Math.random = original;
  }
}
