// Builds a validated run config from a pipeline file and command-line flags (shared by train and sweep).

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultTrainConfig, type TrainConfig, validateTrainConfig } from '../src/config/train-config.ts';
import { ConfigError, FlagError } from '../src/errors.ts';
import { findModel, modelNames } from '../src/models/registry.ts';
import type { PipelineDefinition } from '../src/train/pipeline-definition.ts';
import { intFlag, numberFlag } from './args.ts';

export const runFlags = {
  config: { type: 'string' },
  data: { type: 'string' },
  model: { type: 'string' },
  weights: { type: 'string' },
  'image-size': { type: 'string' },
  epochs: { type: 'string' },
  'fine-tune-epochs': { type: 'string' },
  'micro-batch': { type: 'string' },
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

export async function loadPipeline(file: string): Promise<PipelineDefinition> {
  const path = resolve(file);
  if (!existsSync(path)) throw new FlagError('--config', `${file}: no such pipeline file`);
  const module = (await import(pathToFileURL(path).href)) as { pipeline?: PipelineDefinition };
  const pipeline = module.pipeline;
  if (!pipeline || typeof pipeline.train !== 'function' || typeof pipeline.validate !== 'function') {
    throw new ConfigError('pipeline', `${file} must export \`pipeline = definePipeline({ config, train, validate })\``);
  }
  return pipeline;
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
  set('microBatch', values['micro-batch'] === undefined ? undefined : intFlag(values['micro-batch'], '--micro-batch', 0));
  set('accumulate', values.accumulate === undefined ? undefined : intFlag(values.accumulate, '--accumulate', 0));
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

/** defaults ← pipeline file ← (saved config on resume) ← flags, then validated as a whole before any work starts. */
export function resolveRunConfig(pipeline: PipelineDefinition, flags: Record<string, unknown>, resumeFrom?: string): TrainConfig {
  const saved = resumeFrom ? readSavedConfig(resumeFrom) : {};
  const merged: Record<string, unknown> = { ...defaultTrainConfig, ...pipeline.config, ...saved, ...flags };
  merged.name ??= `${merged.model}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  merged.out ??= join('runs', String(merged.name));
  const config = validateTrainConfig(merged);
  if (!findModel(config.model) && !config.model.startsWith('file:')) {
    throw new ConfigError(
      'model',
      `unknown model '${config.model}' (expected one of ${modelNames.join(', ')}, or file:<folder> with a tfjs layers model)`,
    );
  }
  if (config.model.startsWith('file:') && !existsSync(join(config.model.slice(5), 'model.json'))) {
    throw new ConfigError('model', `${config.model.slice(5)}: no model.json there`);
  }
  if (config.weights && !existsSync(join(config.weights, 'model.json'))) {
    throw new ConfigError('weights', `${config.weights}: no model.json there (weights load from the tfjs layers format)`);
  }
  if (findModel(config.model) && config.normalize !== 'none') {
    throw new ConfigError(
      'normalize',
      `got ${JSON.stringify(config.normalize)}; ${config.model} scales and normalizes inside the model (Keras' preprocessing), so the pipeline must keep raw pixels: use 'none'`,
    );
  }
  return config;
}

function readSavedConfig(runDir: string): Record<string, unknown> {
  const path = join(runDir, 'config.json');
  if (!existsSync(path)) throw new FlagError('--resume', `${path} not found: nothing to resume in ${runDir}`);
  const { classes, backend, versions, resumedAt, ...saved } = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  void classes;
  void backend;
  void versions;
  void resumedAt;
  return saved;
}
