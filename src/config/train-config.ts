// The run configuration: one schema (arktype), its defaults, and validation that names the field, the value and what was expected.

import { type } from 'arktype';
import { ConfigError } from '../errors.ts';
import { parseBytes } from './bytes.ts';

export const trainConfigSchema = type({
  name: 'string > 0',
  data: 'string > 0',
  model: 'string > 0',
  'weights?': 'string > 0',
  'cutAt?': 'string > 0',
  imageSize: 'number.integer >= 32',
  epochs: 'number.integer >= 1',
  fineTuneEpochs: 'number.integer >= 0',
  fineTuneBlocks: 'number.integer >= 0',
  fineTuneLrFactor: '0 < number <= 1',
  microBatch: 'number.integer >= 1',
  accumulate: 'number.integer >= 1',
  optimizer: "'adam' | 'adamw' | 'sgd' | 'rmsprop'",
  lr: '0 < number < 10',
  momentum: '0 <= number < 1',
  nesterov: 'boolean',
  weightDecay: 'number >= 0',
  l1: 'number >= 0',
  l2: 'number >= 0',
  labelSmoothing: '0 <= number < 1',
  schedule: "'constant' | 'step' | 'cosine'",
  warmupEpochs: 'number >= 0',
  stepEpochs: 'number.integer >= 1',
  stepFactor: '0 < number <= 1',
  validation: '0 < number < 1',
  earlyStopping: type({ metric: "'valLoss' | 'valAccuracy'", patience: 'number.integer >= 1', minDelta: 'number >= 0' }).or('false'),
  topK: 'number.integer >= 1',
  dropout: '0 <= number < 1',
  seed: 'number.integer',
  out: 'string > 0',
  'backend?': "'tfjs-node-gpu' | 'webgpu' | 'tfjs-node' | 'wasm' | 'cpu'",
  'memory?': 'string > 0',
  planner: 'boolean',
  queueBytes: 'number.integer >= 1',
  checkpointEverySteps: 'number.integer >= 1',
  augmentStrength: '0 <= number <= 1',
  normalize: "'imagenet' | 'unit' | 'symmetric' | 'none'",
  batchNormMomentum: '0 < number < 1',
  recompute: 'boolean',
  featureCache: 'boolean',
}).onUndeclaredKey('reject');

export type TrainConfig = typeof trainConfigSchema.infer;

export const defaultTrainConfig: Omit<TrainConfig, 'data' | 'name' | 'out'> = {
  model: 'efficientnet-b0',
  imageSize: 224,
  epochs: 10,
  fineTuneEpochs: 0,
  fineTuneBlocks: 20,
  fineTuneLrFactor: 0.1,
  microBatch: 16,
  accumulate: 1,
  optimizer: 'adam',
  lr: 1e-3,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 0.01,
  l1: 0,
  l2: 0,
  labelSmoothing: 0,
  schedule: 'cosine',
  warmupEpochs: 1,
  stepEpochs: 10,
  stepFactor: 0.1,
  validation: 0.2,
  earlyStopping: { metric: 'valLoss', patience: 5, minDelta: 1e-4 },
  topK: 5,
  dropout: 0.2,
  seed: 0,
  planner: false,
  queueBytes: 256 * 2 ** 20,
  checkpointEverySteps: 200,
  augmentStrength: 1,
  normalize: 'none',
  batchNormMomentum: 0.99,
  recompute: false,
  featureCache: false,
};

/** Validates a whole config before any work starts; the error names the first bad field, its value and what was expected. */
export function validateTrainConfig(input: Record<string, unknown>): TrainConfig {
  const result = trainConfigSchema(input);
  if (result instanceof type.errors) {
    const first = result[0];
    const field = first.path.join('.') || '(root)';
    const value = first.path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key as string], input);
    throw new ConfigError(field, `got ${JSON.stringify(value)}; ${first.message}`);
  }
  if (result.memory !== undefined && parseBytes(result.memory) === undefined) {
    throw new ConfigError('memory', `got ${JSON.stringify(result.memory)}; expected a size such as 8GiB or 512MiB`);
  }
  return result;
}
