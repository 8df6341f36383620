// Source: a folder with one sub-folder per class, streamed with fast-glob (never listed whole).

import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fg from 'fast-glob';
import type { DatasetSource } from '../src/data/dataset-source.ts';
import { ClassList, imageExtensions, isImageName } from '../src/data/image-files.ts';
import type { EncodedSample } from '../src/data/samples.ts';
import { DataError } from '../src/errors.ts';
import type { StageContext } from '../src/stream/stage.ts';

export type { DatasetSource } from '../src/data/dataset-source.ts';

export interface FolderSourceOptions {
  /** Class names to expect; by default the sorted sub-folder names. */
  classes?: string[];
}

export function folderSource(root: string, options: FolderSourceOptions = {}): DatasetSource {
  const folder = resolve(root);
  const classes = new ClassList(options.classes ?? listClassFolders(folder));
  if (classes.names.length === 0) throw new DataError(folder, 'no class sub-folders found (expected one folder per class)');

  const source = async function* (context: StageContext): AsyncGenerator<EncodedSample> {
    for (const label of classes.names) {
      const classFolder = join(folder, label);
      // Symlinked class folders are followed above; inside them links to folders are not, so a loop cannot hang the walk.
      const entries = fg.stream(`**/*.{${imageExtensions.join(',')}}`, {
        cwd: classFolder,
        caseSensitiveMatch: false,
        followSymbolicLinks: false,
        onlyFiles: false,
        dot: false,
        suppressErrors: true,
      });
      for await (const entry of entries) {
        context.signal?.throwIfAborted();
        const relative = String(entry);
        const path = join(classFolder, relative);
        yield { key: `${label}/${relative}`, label, classIndex: classes.indexOf(label)!, origin: path, input: path };
      }
    }
  };
  return Object.assign(source, { classes, description: folder });
}

/**
 * Unlabelled images (label '', classIndex −1) from image files and folders (every image under a folder, recursively), in the
 * order given: what `predict` reads, so `predict photo.jpg` and `predict *.jpg` work as well as `predict folder/`.
 */
export function imagesSource(paths: readonly string[]): DatasetSource {
  const entries = paths.map((path): { folder?: string; file?: string } => {
    const full = resolve(path);
    if (isFolder(full)) return { folder: full };
    if (!isFile(full)) throw new DataError(full, 'no such file or folder');
    if (!isImageName(full)) throw new DataError(full, `not an image file name (expected one of .${imageExtensions.join(', .')})`);
    return { file: full };
  });
  const source = async function* (context: StageContext): AsyncGenerator<EncodedSample> {
    for (const entry of entries) {
      if (entry.file) {
        context.signal?.throwIfAborted();
        yield { key: entry.file, label: '', classIndex: -1, origin: entry.file, input: entry.file };
        continue;
      }
      const found = fg.stream(`**/*.{${imageExtensions.join(',')}}`, {
        cwd: entry.folder,
        caseSensitiveMatch: false,
        followSymbolicLinks: false,
        suppressErrors: true,
      });
      for await (const name of found) {
        context.signal?.throwIfAborted();
        const path = join(entry.folder!, String(name));
        yield { key: paths.length === 1 ? String(name) : path, label: '', classIndex: -1, origin: path, input: path };
      }
    }
  };
  return Object.assign(source, { classes: new ClassList([]), description: entries.map((entry) => entry.folder ?? entry.file).join(' ') });
}

function listClassFolders(folder: string): string[] {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch (error) {
    throw new DataError(folder, `cannot read folder (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  return names.filter((name) => !name.startsWith('.') && isFolder(join(folder, name)));
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // a dangling link is not a class
  }
}
