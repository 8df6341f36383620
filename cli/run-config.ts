// The run flags shared by train and sweep, turned into config fields; the engine (src/config/run-config.ts) does the rest.

import { existsSync, readFileSync } from 'node:fs';
import { loadPipeline as loadPipelineFile } from '../src/config/run-config.ts';
import { FlagError } from '../src/errors.ts';
import type { PipelineDefinition } from '../src/train/pipeline-definition.ts';
import { intFlag, numberFlag } from './args.ts';

export { resolveRunConfig, resumeFolder } from '../src/config/run-config.ts';

export const runFlags = {
  config: { type: 'string' },
  data: { type: 'string' },
  model: { type: 'string' },
  weights: { type: 'string' },
  'image-size': { type: 'string' },
  epochs: { type: 'string' },
  'fine-tune-epochs': { type: 'string' },
  'batch-size': { type: 'string' },
  'micro-batch': { type: 'string' },
  /** Removed (accumulation is batchSize / microBatch); kept as a flag only to say so. */
  accumulate: { type: 'string' },
  optimizer: { type: 'string' },
  lr: { type: 'string' },
  out: { type: 'string' },
  name: { type: 'string' },
  backend: { type: 'string' },
  memory: { type: 'string' },
  seed: { type: 'string' },
  /** A JSON file of config fields laid over the pipeline's (how a sweep hands a trial its parameters). */
  overrides: { type: 'string' },
} as const;

export const defaultPipelineFile = 'pipelines/default.ts';

/** The pipeline named by --config. */
export async function loadPipeline(file: string): Promise<PipelineDefinition> {
  if (!existsSync(file)) throw new FlagError('--config', `${file}: no such pipeline file`);
  return loadPipelineFile(file);
}

type FlagValues = Partial<Record<keyof typeof runFlags, string>>;

/** Flags that were given, as config fields. */
export function configFromFlags(values: FlagValues): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const set = (key: string, value: unknown) => {
    if (value !== undefined) fields[key] = value;
  };
  set('data', values.data);
  set('model', values.model);
  set('weights', values.weights);
  set('imageSize', values['image-size'] === undefined ? undefined : intFlag(values['image-size'], '--image-size', 0, 32));
  set('epochs', values.epochs === undefined ? undefined : intFlag(values.epochs, '--epochs', 0));
  set(
    'fineTuneEpochs',
    values['fine-tune-epochs'] === undefined ? undefined : intFlag(values['fine-tune-epochs'], '--fine-tune-epochs', 0, 0),
  );
  if (values.accumulate !== undefined) {
    throw new FlagError(
      '--accumulate',
      'removed: pass --batch-size (samples per optimizer update) and --micro-batch (samples per forward/backward pass); accumulation is their ratio',
    );
  }
  set('batchSize', values['batch-size'] === undefined ? undefined : intFlag(values['batch-size'], '--batch-size', 0));
  set('microBatch', values['micro-batch'] === undefined ? undefined : intFlag(values['micro-batch'], '--micro-batch', 0));
  set('optimizer', values.optimizer);
  set('lr', values.lr === undefined ? undefined : numberFlag(values.lr, '--lr', 0));
  set('out', values.out);
  set('name', values.name);
  set('backend', values.backend);
  set('memory', values.memory);
  set('seed', values.seed === undefined ? undefined : intFlag(values.seed, '--seed', 0, -(2 ** 31)));
  if (values.overrides) {
    if (!existsSync(values.overrides)) throw new FlagError('--overrides', `${values.overrides}: no such file`);
    try {
      return { ...(JSON.parse(readFileSync(values.overrides, 'utf8')) as Record<string, unknown>), ...fields };
    } catch (error) {
      throw new FlagError('--overrides', `${values.overrides}: not valid JSON (${(error as Error).message})`);
    }
  }
  return fields;
}
