// The run flags shared by train and sweep, turned into config fields by the kind the schema gives each field; the engine
// (src/config/run-config.ts) validates the whole and does the rest.

import { existsSync, readFileSync } from 'node:fs';
import { parseBytes } from '../src/config/bytes.ts';
import { loadPipeline as loadPipelineFile } from '../src/config/run-config.ts';
import { FlagError } from '../src/errors.ts';
import type { PipelineDefinition } from '../src/train/pipeline-definition.ts';
import type { FlagValues } from './args.ts';
import { flagFields } from './flags.ts';

export { resolveRunConfig, resumeFolder } from '../src/config/run-config.ts';
export { runFlags } from './flags.ts';

export const defaultPipelineFile = 'pipelines/default.ts';

/** The pipeline named by --config. */
export async function loadPipeline(file: string): Promise<PipelineDefinition> {
  if (!existsSync(file)) throw new FlagError('--config', `${file}: no such pipeline file`);
  return loadPipelineFile(file);
}

/** Flags that were given, as config fields (an --overrides file first, flags over it). */
export function configFromFlags(values: FlagValues): Record<string, unknown> {
  if (values.accumulate !== undefined) {
    throw new FlagError(
      '--accumulate',
      'removed: pass --batch-size (samples per optimizer update) and --micro-batch (samples per forward/backward pass); accumulation is their ratio',
    );
  }
  const fields: Record<string, unknown> = {};
  for (const field of flagFields) {
    const name = field.flag!.slice(2);
    if (field.kind === 'boolean') {
      const [on, off] = [values[name] === true, values[`no-${name}`] === true];
      if (on && off) throw new FlagError(`--no-${name}`, `contradicts --${name}: give one of them`);
      if (on || off) fields[field.field] = on;
      continue;
    }
    const value = values[name];
    if (typeof value === 'string') fields[field.field] = parseFieldValue(value, field.flag!, field.kind);
  }
  if (typeof values.overrides === 'string') return { ...readOverrides(values.overrides), ...fields };
  return fields;
}

/** A flag's text as the field's kind; ranges and choices are the schema's to check, with the field's name. */
function parseFieldValue(text: string, flag: string, kind: string): unknown {
  if (kind === 'integer' || kind === 'number') {
    const number = text.trim() === '' ? Number.NaN : Number(text);
    if (kind === 'integer' && !Number.isInteger(number)) throw new FlagError(flag, `expected an integer, got '${text}'`);
    if (!Number.isFinite(number)) throw new FlagError(flag, `expected a number, got '${text}'`);
    return number;
  }
  if (kind === 'size') {
    const bytes = parseBytes(text);
    if (bytes === undefined) throw new FlagError(flag, `expected a size such as 256MiB or a number of bytes, got '${text}'`);
    return bytes;
  }
  return text;
}

function readOverrides(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new FlagError('--overrides', `${file}: no such file`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new FlagError('--overrides', `${file}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new FlagError('--overrides', `${file}: expected a JSON object of config fields`);
  return parsed as Record<string, unknown>;
}
