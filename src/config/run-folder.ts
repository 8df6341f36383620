// Where a run lives when neither the flags nor the pipeline say: one rule for train, resume and sweeps.

import { join } from 'node:path';

interface FolderFields {
  name?: unknown;
  out?: unknown;
}

/** A name unique to this moment: `<prefix>-2024-05-01T12-00-00-000Z`. */
export function timestampedName(prefix: string, now = new Date()): string {
  return `${prefix}-${now.toISOString().replace(/[:.]/g, '-')}`;
}

/** The run's name (default `defaultName`) and folder (`out` when given, else `runs/<name>`), from fields merged in priority order. */
export function runFolder(fields: FolderFields, defaultName: string): { name: string; out: string } {
  const name = given(fields.name) ?? defaultName;
  return { name, out: given(fields.out) ?? join('runs', name) };
}

/** The folder of an existing run named by `out` or `name`; undefined when neither says (there is nothing to resume). */
export function existingRunFolder(fields: FolderFields): string | undefined {
  const name = given(fields.name);
  return given(fields.out) ?? (name === undefined ? undefined : join('runs', name));
}

function given(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
