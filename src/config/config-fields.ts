// Every run config field as the command line sees it: its flag, what kind of value it takes (read off the arktype schema),
// its default and one line of help. The CLI's flags, their parsing and `--help` are generated from this list, so a field
// added to the schema cannot be missing from them (tsc refuses a field without a description here).

import { defaultTrainConfig, type TrainConfig, trainConfigSchema } from './train-config.ts';

/** One line of help; `fileOnly` for a field set only in a pipeline file or an --overrides JSON (it has no flag). */
type FieldDescription = string | { fileOnly: string };

const descriptions: Record<keyof TrainConfig, FieldDescription> = {
  name: 'run name (default <model>-<time>)',
  data: "folder of class folders, .csv/.jsonl manifest, or tar shards ('shards/train-{000..099}.tar')",
  model: 'a built-in model (streamfit models lists them), or file:<folder> with a tfjs layers model',
  weights: 'pretrained weights in the tfjs layers format (then: the head first, then fine-tuning)',
  cutAt: 'with --model file:…, the layer whose output feeds the new head',
  imageSize: 'input side in pixels (at most 4096)',
  epochs: 'epochs of the first phase (the head, when --weights is given)',
  fineTuneEpochs: 'epochs of the fine-tuning phase',
  fineTuneBlocks: 'top blocks unfrozen for fine-tuning',
  fineTuneLrFactor: 'learning rate of fine-tuning, as a factor of --lr',
  batchSize: 'samples per optimizer update (the effective batch)',
  microBatch: 'samples per forward/backward pass; divides --batch-size (default: --batch-size); accumulation is their ratio',
  optimizer: 'the optimizer',
  lr: 'learning rate',
  momentum: 'momentum of sgd and rmsprop',
  nesterov: 'Nesterov momentum (sgd)',
  weightDecay: 'decoupled weight decay (adamw)',
  l1: 'L1 penalty on kernels',
  l2: 'L2 penalty on kernels',
  labelSmoothing: 'label smoothing of the cross-entropy',
  schedule: 'learning-rate schedule',
  warmupEpochs: 'epochs of linear warm-up (cosine)',
  stepEpochs: 'epochs between decays (step)',
  stepFactor: 'decay factor (step)',
  validation: 'share of the samples held out for validation, by a hash of their key',
  earlyStopping: { fileOnly: '{metric: valLoss|valAccuracy, patience, minDelta}, or false' },
  preciseBn: {
    fileOnly: '{batches: N}: recompute trainable BatchNorm statistics over N un-augmented batches before validating and saving, or false',
  },
  topK: 'k of the top-k validation accuracy',
  dropout: 'dropout before the head',
  seed: 'seeds the split, shuffling and augmentation',
  out: 'run folder (default runs/<name>)',
  backend: 'the tfjs backend (default: the first of the ladder that works)',
  memory: 'device memory budget (8GiB); with --planner it picks the micro-batch',
  planner: 'pick the micro-batch and recomputation that fit --memory',
  queueBytes: 'bytes the prefetch queue holds at most (256MiB)',
  checkpointEverySteps: 'optimizer updates between checkpoints inside an epoch',
  augmentStrength: 'strength of the augmentation, 0 (none) to 1',
  minimumCropScale: 'smallest share of the image a random resized crop keeps',
  shuffleBuffer: 'samples in the shuffle buffer',
  normalize: 'normalization in the pipeline (none for built-in models: they normalize inside)',
  batchNormMomentum: 'moving-average momentum of BatchNorm statistics',
  recompute: 'recompute blocks in the backward pass instead of keeping their activations',
  featureCache: 'with a frozen backbone, train the head on cached features',
  backward: "the backward pass: lean (streamfit's, frees as it goes) or autodiff (tfjs' tape)",
  maxQuarantined: 'largest share of files that may be quarantined before the run stops (0.05: 5 %)',
  workers:
    'data-parallel training workers, one core each (wasm and cpu backends); auto: the physical cores, at most the micro-batches of an update',
};

/** Fields whose value is a size in bytes: the flag takes 256MiB as well as a number. */
const sizeFields = new Set<keyof TrainConfig>(['queueBytes']);
/** Fields whose value is a count or 'auto'. */
const countFields = new Set<keyof TrainConfig>(['workers']);

export type FieldKind = 'integer' | 'number' | 'string' | 'boolean' | 'choice' | 'size' | 'count' | 'object';

export interface ConfigField {
  field: keyof TrainConfig;
  /** `--image-size`; absent for a file-only field. */
  flag?: string;
  kind: FieldKind;
  /** The values a choice takes, from the schema. */
  choices?: string[];
  help: string;
  default?: unknown;
}

interface SchemaNode {
  domain?: string;
  divisor?: number;
  unit?: unknown;
}

/** Every field of the schema, in its order, with its flag, kind, choices, default and help. */
export function configFields(): ConfigField[] {
  const json = trainConfigSchema.json as {
    required: Array<{ key: string; value: unknown }>;
    optional?: Array<{ key: string; value: unknown }>;
  };
  const schema = new Map([...json.required, ...(json.optional ?? [])].map(({ key, value }) => [key, value]));
  return (Object.keys(descriptions) as Array<keyof TrainConfig>).map((field) => {
    const description = descriptions[field];
    const fileOnly = typeof description !== 'string';
    const { kind, choices } = countFields.has(field)
      ? { kind: 'count' as const, choices: undefined }
      : kindOf(schema.get(field), sizeFields.has(field));
    return {
      field,
      ...(fileOnly ? {} : { flag: `--${kebab(field)}` }),
      kind,
      ...(choices ? { choices } : {}),
      help: fileOnly ? description.fileOnly : description,
      default: (defaultTrainConfig as Partial<Record<keyof TrainConfig, unknown>>)[field],
    };
  });
}

/** The field names the schema declares (what the descriptions must cover). */
export function schemaFieldNames(): string[] {
  return trainConfigSchema.props.map((prop) => prop.key as string);
}

function kindOf(node: unknown, size: boolean): { kind: FieldKind; choices?: string[] } {
  if (size) return { kind: 'size' };
  if (Array.isArray(node)) {
    const units = (node as SchemaNode[]).map((branch) => branch.unit);
    if (units.every((unit) => typeof unit === 'boolean')) return { kind: 'boolean' };
    if (units.every((unit) => typeof unit === 'string')) return { kind: 'choice', choices: (units as string[]).sort() };
    return { kind: 'object' };
  }
  const { domain, divisor } = (node ?? {}) as SchemaNode;
  if (domain === 'number') return { kind: divisor === 1 ? 'integer' : 'number' };
  if (domain === 'string') return { kind: 'string' };
  return { kind: 'object' };
}

export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
