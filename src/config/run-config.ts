// A validated run config from a pipeline file, config fields (flags, overrides) and, on resume, the run's saved config.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, DataError, NothingToResume } from '../errors.ts';
import { findModel, modelNames } from '../models/registry.ts';
import type { PipelineDefinition } from '../train/pipeline-definition.ts';
import { importPipelineModule } from './pipeline-import.ts';
import { existingRunFolder, runFolder, timestampedName } from './run-folder.ts';
import { defaultTrainConfig, type TrainConfig, validateTrainConfig } from './train-config.ts';

export async function loadPipeline(file: string): Promise<PipelineDefinition> {
  const path = resolve(file);
  if (!existsSync(path)) throw new DataError(file, 'no such pipeline file');
  const module = (await importPipelineModule(path)) as { pipeline?: PipelineDefinition & { validate?: unknown } };
  const pipeline = module.pipeline;
  if (pipeline && typeof pipeline.validate === 'function' && typeof pipeline.evaluate !== 'function') {
    throw new ConfigError(
      'pipeline.validate',
      `${file}: \`validate\` is now \`evaluate(dataset, config, context, subset)\`, one side of the split under the evaluation preprocessing`,
    );
  }
  if (!pipeline || typeof pipeline.train !== 'function' || typeof pipeline.evaluate !== 'function') {
    throw new ConfigError('pipeline', `${file} must export \`pipeline = definePipeline({ config, train, evaluate })\``);
  }
  return pipeline;
}

/** defaults ← pipeline file ← (saved config on resume) ← flags, then validated as a whole before any work starts. */
export function resolveRunConfig(pipeline: PipelineDefinition, flags: Record<string, unknown>, resumeFrom?: string): TrainConfig {
  const saved = resumeFrom ? readSavedConfig(resumeFrom) : {};
  const merged: Record<string, unknown> = { ...defaultTrainConfig, ...pipeline.config, ...saved, ...flags };
  const config = validateTrainConfig({ ...merged, ...runFolder(merged, timestampedName(String(merged.model))) });
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

/** The folder `--resume` continues: --out, or runs/<--name>, or the pipeline's. */
export function resumeFolder(pipeline: PipelineDefinition, flags: Record<string, unknown>): string {
  const folder = existingRunFolder({ ...pipeline.config, ...flags });
  if (!folder) throw new NothingToResume('runs/', 'say which run with --out <folder> or --name <name>');
  return resolve(folder);
}

function readSavedConfig(runDir: string): Record<string, unknown> {
  const path = join(runDir, 'config.json');
  if (!existsSync(path)) throw new NothingToResume(runDir, `${path} not found`);
  const { classes, backend, parallel, versions, resumedAt, ...saved } = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  void classes;
  void backend;
  void parallel; // what the run used; the field `workers` is the config
  void versions;
  void resumedAt;
  return saved;
}
