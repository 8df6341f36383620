import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accumulateOf, defaultTrainConfig, validateTrainConfig } from '../src/config/train-config.ts';
import { ConfigError } from '../src/errors.ts';

const base = { ...defaultTrainConfig, name: 'run', data: 'data', out: 'runs/run' };

test('microBatch defaults to batchSize (no accumulation); accumulate is derived', () => {
  const plain = validateTrainConfig({ ...base, batchSize: 32 });
  assert.deepEqual([plain.batchSize, plain.microBatch, accumulateOf(plain)], [32, 32, 1]);
  const split = validateTrainConfig({ ...base, batchSize: 32, microBatch: 8 });
  assert.equal(accumulateOf(split), 4);
});

test('a batch size that is not a multiple of the micro-batch is refused, naming both', () => {
  assert.throws(
    () => validateTrainConfig({ ...base, batchSize: 30, microBatch: 8 }),
    (error: unknown) =>
      error instanceof ConfigError && error.field === 'microBatch' && /batchSize 30 is not a multiple of microBatch 8/.test(error.message),
  );
});

test('an old config with accumulate is refused, naming the fields that replace it', () => {
  assert.throws(
    () => validateTrainConfig({ ...base, microBatch: 8, accumulate: 4 }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.field === 'accumulate' &&
      /set batchSize .* and microBatch .*\{batchSize: m × a, microBatch: m\}/.test(error.message),
  );
});
