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
  batchSize: 'number.integer >= 1',
  microBatch: 'number.integer >= 1',
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
  minimumCropScale: '0 < number <= 1',
  shuffleBuffer: 'number.integer >= 1',
  normalize: "'imagenet' | 'unit' | 'symmetric' | 'none'",
  batchNormMomentum: '0 < number < 1',
  preciseBn: type({ batches: 'number.integer >= 1' }).or('false'),
  recompute: 'boolean',
  backward: "'lean' | 'autodiff'",
  featureCache: 'boolean',
  maxQuarantined: '0 <= number <= 1',
  workers: "'auto' | number.integer >= 1",
}).onUndeclaredKey('reject');

export type TrainConfig = typeof trainConfigSchema.infer;

/** Defaults of every field but the run's own (data, name, out) and `microBatch`, which defaults to `batchSize` (no accumulation). */
export const defaultTrainConfig: Omit<TrainConfig, 'data' | 'name' | 'out' | 'microBatch'> = {
  model: 'efficientnet-b0',
  imageSize: 224,
  epochs: 10,
  fineTuneEpochs: 0,
  fineTuneBlocks: 20,
  fineTuneLrFactor: 0.1,
  batchSize: 16,
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
  minimumCropScale: 0.5,
  shuffleBuffer: 1000,
  normalize: 'none',
  batchNormMomentum: 0.99,
  preciseBn: { batches: 32 },
  recompute: false,
  // streamfit's backward pass (src/memory/lean-backward): about a third of tfjs' activation memory, no slower; 'autodiff'
  // runs tfjs' own, for comparison or should a model ever train differently with it.
  backward: 'lean',
  featureCache: false,
  maxQuarantined: 0.05,
  // Data-parallel training workers (src/train/workers): 'auto' is the physical cores on wasm and cpu, capped by the
  // micro-batches of an update, and 1 on the other backends.
  workers: 'auto',
};

/**
 * The largest image side a run accepts. At 4096 px one image's first feature map alone (EfficientNet's stem: 2048² × 32
 * channels × 4 bytes) is 512 MiB before the rest of the network, beyond the GPUs this toolkit is for; a much larger side only
 * makes every decode fail (libvips runs out of memory resizing to 100 000 px) and the run quarantine every image.
 */
export const maxImageSize = 4096;

/** Fields that changed meaning, and what replaces them: an old pipeline or overrides file is refused with the new names. */
const renamedFields: Record<string, string> = {
  accumulate:
    'no longer a config field: set batchSize (samples per optimizer update) and microBatch (samples per forward/backward pass); accumulate = batchSize / microBatch is derived (an old {microBatch: m, accumulate: a} is {batchSize: m × a, microBatch: m})',
};

/** Micro-batches per optimizer update. */
export function accumulateOf(config: Pick<TrainConfig, 'batchSize' | 'microBatch'>): number {
  return config.batchSize / config.microBatch;
}

/** Validates a whole config before any work starts; the error names the first bad field, its value and what was expected. */
export function validateTrainConfig(fields: Record<string, unknown>): TrainConfig {
  for (const [field, reason] of Object.entries(renamedFields))
    if (fields[field] !== undefined) throw new ConfigError(field, `got ${JSON.stringify(fields[field])}; ${reason}`);
  const input = { ...fields, microBatch: fields.microBatch ?? fields.batchSize };
  const result = trainConfigSchema(input);
  if (result instanceof type.errors) {
    const first = result[0];
    const field = first.path.join('.') || '(root)';
    const value = first.path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key as string], input);
    throw new ConfigError(field, `got ${JSON.stringify(value)}; ${first.message}`);
  }
  if (result.imageSize > maxImageSize) {
    throw new ConfigError(
      'imageSize',
      `got ${result.imageSize}; at most ${maxImageSize} px: one image's first feature map alone would pass 512 MiB of device memory, and larger sides make every decode fail`,
    );
  }
  if (result.memory !== undefined && parseBytes(result.memory) === undefined) {
    throw new ConfigError('memory', `got ${JSON.stringify(result.memory)}; expected a size such as 8GiB or 512MiB`);
  }
  if (result.batchSize % result.microBatch !== 0) {
    throw new ConfigError(
      'microBatch',
      `batchSize ${result.batchSize} is not a multiple of microBatch ${result.microBatch}: an optimizer update must be a whole number of micro-batches`,
    );
  }
  return result;
}
