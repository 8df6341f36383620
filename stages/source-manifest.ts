// Source: a CSV or JSONL manifest of path,label rows; paths are relative to the manifest's folder.

import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ClassList } from '../src/data/image-files.ts';
import { readManifest } from '../src/data/manifest-lines.ts';
import type { EncodedSample } from '../src/data/samples.ts';
import { DataError } from '../src/errors.ts';
import type { StageContext } from '../src/stream/stage.ts';
import type { DatasetSource } from './source-folder.ts';

export interface ManifestSourceOptions {
  /** Class names; by default every label in the manifest (found by one streaming pass before the first epoch). */
  classes?: string[];
}

export async function manifestSource(manifest: string, options: ManifestSourceOptions = {}): Promise<DatasetSource> {
  const file = resolve(manifest);
  const root = dirname(file);
  const classes = new ClassList(options.classes ?? (await collectLabels(file)));
  if (classes.names.length === 0) throw new DataError(file, 'manifest has no rows');

  const source = async function* (context: StageContext): AsyncGenerator<EncodedSample> {
    for await (const row of readManifest(file)) {
      context.signal?.throwIfAborted();
      const classIndex = classes.indexOf(row.label);
      if (classIndex === undefined) {
        throw new DataError(`${file}:${row.line}`, `label '${row.label}' is not a known class (${classes.names.join(', ')})`);
      }
      const path = isAbsolute(row.path) ? row.path : join(root, row.path);
      yield { key: row.path, label: row.label, classIndex, origin: path, input: path };
    }
  };
  return Object.assign(source, { classes, description: file });
}

async function collectLabels(file: string): Promise<Set<string>> {
  const labels = new Set<string>();
  for await (const row of readManifest(file)) labels.add(row.label);
  return labels;
}
