// The run config as command-line flags: one flag per config field (src/config/config-fields.ts) parsed into the field by
// the kind the schema gives it, the dataset as a positional argument, and the nearest known name to a mistyped one.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FlagError } from '../errors.ts';
import { parseBytes } from './bytes.ts';
import { type ConfigField, configFields } from './config-fields.ts';

/** A flag: parseArgs' type, the placeholder and line `--help` shows, or `hidden` for one kept only to explain its removal. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's placeholder in --help (N, FOLDER); booleans have none. */
  value?: string;
  help?: string;
  hidden?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

export type FlagValues = Record<string, string | boolean | undefined>;

/** The config fields that have a flag (all but the file-only ones). */
export const flagFields: ConfigField[] = configFields().filter((field) => field.flag !== undefined);

const placeholders: Record<ConfigField['kind'], string> = {
  integer: 'N',
  number: 'X',
  string: 'TEXT',
  boolean: '',
  choice: 'NAME',
  size: 'SIZE',
  count: 'N|auto',
  object: 'JSON',
};

/** Placeholders that say more than the kind (a folder, a path). */
const fieldPlaceholders: Record<string, string> = { data: 'PATH', model: 'NAME', weights: 'FOLDER', out: 'FOLDER', memory: 'SIZE' };

/** The flags of a run (train, and every trial of a sweep): the pipeline file, an overrides file, one flag per config field. */
export const runFlags: FlagSpecs = {
  config: { type: 'string', value: 'FILE', help: 'pipeline file (definePipeline); default pipelines/default.ts' },
  overrides: { type: 'string', value: 'FILE.json', help: 'config fields laid over the pipeline’s (any field, file-only ones too)' },
  ...Object.assign({}, ...flagFields.map(fieldFlags)),
  /** Removed (accumulation is batchSize / microBatch); kept as a flag only to say so. */
  accumulate: { type: 'string', hidden: true },
};

function fieldFlags(field: ConfigField): FlagSpecs {
  const name = field.flag!.slice(2);
  const choices = field.choices ? ` (${field.choices.join(' | ')})` : '';
  const fallback = field.default === undefined || field.kind === 'boolean' ? '' : `; default ${formatDefault(field.default)}`;
  if (field.kind === 'boolean')
    return {
      [name]: { type: 'boolean', help: `${field.help}${field.default === true ? ' (default)' : ''}` },
      [`no-${name}`]: { type: 'boolean', help: `turn --${name} off${field.default === false ? ' (default)' : ''}` },
    };
  const value = fieldPlaceholders[field.field] ?? placeholders[field.kind];
  return { [name]: { type: 'string', value, help: `${field.help}${choices}${fallback}` } };
}

function formatDefault(value: unknown): string {
  if (typeof value === 'number' && value >= 2 ** 20 && value % 2 ** 20 === 0) return `${value / 2 ** 20}MiB`;
  return typeof value === 'string' ? value : JSON.stringify(value);
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
function parseFieldValue(text: string, flag: string, kind: ConfigField['kind']): unknown {
  if (kind === 'integer' || kind === 'number') {
    const number = text.trim() === '' ? Number.NaN : Number(text);
    if (kind === 'integer' && !Number.isInteger(number)) throw new FlagError(flag, `expected an integer, got '${text}'`);
    if (!Number.isFinite(number)) throw new FlagError(flag, `expected a number, got '${text}'`);
    return number;
  }
  if (kind === 'count') {
    if (text.trim() === 'auto') return 'auto';
    const count = Number(text);
    if (!Number.isInteger(count) || count < 1) throw new FlagError(flag, `expected a whole number from 1 up or 'auto', got '${text}'`);
    return count;
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

/** `train path/to/data` is `train --data path/to/data`; two paths, or a path and a different --data, are refused. */
export function positionalData(positionals: readonly string[], values: FlagValues): string | undefined {
  if (positionals.length > 1) throw new FlagError('<data>', `takes one dataset path, got ${positionals.length}: ${positionals.join(' ')}`);
  const [path] = positionals;
  if (path === undefined) return undefined;
  if (typeof values.data === 'string' && resolve(values.data) !== resolve(path))
    throw new FlagError('--data', `'${values.data}' and the positional '${path}' name different datasets: give one of them`);
  return path;
}

/** The known name closest to a mistyped one (flags with or without dashes), when it is close enough to be what was meant. */
export function nearestName(typed: string, known: readonly string[]): string | undefined {
  const word = typed.replace(/^-+/, '');
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const candidate = name.replace(/^-+/, '');
    const distance = candidate.startsWith(word) || word.startsWith(candidate) ? 1 : editDistance(word, candidate);
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(word.length / 3)) ? best.name : undefined;
}

/** Levenshtein distance, with a swap of two neighbouring letters counting once (Damerau). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
    }
  return rows[a.length][b.length];
}
