// Source: picks the folder, manifest or tar-shard reader from what the path looks like.

import { existsSync, statSync } from 'node:fs';
import { DataError } from '../src/errors.ts';
import { type DatasetSource, folderSource } from './source-folder.ts';
import { manifestSource } from './source-manifest.ts';
import { tarSource } from './source-tar.ts';

export type { DatasetSource } from './source-folder.ts';

export interface SourceOptions {
  classes?: string[];
}

/** A folder of class folders, a `.csv`/`.jsonl` manifest, or tar shards (`.tar`, `.tar.gz`, brace patterns). */
export async function source(path: string, options: SourceOptions = {}): Promise<DatasetSource> {
  if (/\.(tar|tar\.gz|tgz)$/i.test(path)) return tarSource(path, options);
  if (!existsSync(path)) throw new DataError(path, 'no such file or folder');
  if (statSync(path).isDirectory()) return folderSource(path, options);
  if (/\.(csv|jsonl?)$/i.test(path)) return manifestSource(path, options);
  throw new DataError(path, 'not a dataset: expected a folder, a .csv/.jsonl manifest or .tar/.tar.gz shards');
}
