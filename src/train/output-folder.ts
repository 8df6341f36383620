// Claiming the folder a run or a sweep writes: streamfit writes only into a folder it made (a marker file says so), never
// into the current directory or the dataset, and never while another process writes it (the folder lock).

import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ConfigError } from '../errors.ts';
import { type FolderLock, lockFileName, lockFolder } from './folder-lock.ts';

export type FolderKind = 'run' | 'sweep';

/** The file that says a folder is a streamfit run (or sweep), written when the folder is claimed. */
export const markerFiles: Record<FolderKind, string> = { run: '.streamfit-run', sweep: '.streamfit-sweep' };

export interface ClaimOptions {
  /** A run's dataset (`config.data`): the folder must not be it or inside it. */
  data?: string;
  /** Continuing the run in the folder (`--resume`); without it a folder that holds a run is refused. */
  resume?: boolean;
  /** The working directory, which is never a run folder. Default process.cwd(). */
  cwd?: string;
}

export interface FolderClaim {
  readonly folder: string;
  /** Whether this claim made the folder (a run refused before writing anything removes it again). */
  readonly created: boolean;
  release(): void;
}

/** What kind of streamfit folder this is: by its marker, or (folders written before markers) by what it holds. */
export function folderKind(folder: string): FolderKind | undefined {
  if (existsSync(join(folder, markerFiles.run))) return 'run';
  if (existsSync(join(folder, markerFiles.sweep))) return 'sweep';
  if (existsSync(join(folder, 'checkpoints', 'latest.json'))) return 'run';
  if (existsSync(join(folder, 'sweep.json'))) return 'sweep';
  return undefined;
}

/** Marks a folder as a streamfit run or sweep (a sweep marks each trial folder as a run before its first train). */
export function markFolder(folder: string, kind: FolderKind): void {
  mkdirSync(folder, { recursive: true });
  const marker = join(folder, markerFiles[kind]);
  if (!existsSync(marker)) writeFileSync(marker, `${JSON.stringify({ kind, created: new Date().toISOString() })}\n`);
}

/**
 * Refuses a folder streamfit must not write, naming why: the current directory, the dataset or a folder inside it, a folder
 * of the other kind, or a non-empty folder streamfit did not make. Reads only.
 */
export function checkOutputFolder(path: string, kind: FolderKind, options: ClaimOptions = {}): void {
  const folder = resolve(path);
  const refuse = (reason: string) => new ConfigError('out', `${folder} ${reason}`);
  if (folder === resolve(options.cwd ?? process.cwd()))
    throw refuse(`is the current directory: a ${kind} writes its files into its own folder; give one such as runs/NAME`);
  if (options.data !== undefined) {
    const data = resolve(options.data);
    const dataFolder = isFolder(data) ? data : dirname(data);
    if (folder === dataFolder || (isFolder(data) && isInside(folder, data)))
      throw refuse(
        `is ${folder === dataFolder ? 'the dataset’s folder' : `inside the dataset ${data}`}: a ${kind} folder there would be read as data`,
      );
  }
  if (!existsSync(folder)) return;
  if (!isFolder(folder)) throw refuse('is a file, not a folder');
  const found = folderKind(folder);
  if (found && found !== kind) throw refuse(`is a streamfit ${found} folder, not a ${kind}: choose another folder`);
  if (!found && readdirSync(folder).length > 0)
    throw refuse(
      `holds files and is not a streamfit ${kind} (it has no ${markerFiles[kind]}): streamfit writes only into folders it made; choose a new or empty folder`,
    );
}

/**
 * Checks the folder, creates and marks it, and takes its lock. A run folder that already holds a run needs `resume`;
 * one that was claimed but never checkpointed (a run that failed early, a trial not started yet) starts afresh.
 */
export function claimOutputFolder(path: string, kind: FolderKind, options: ClaimOptions = {}): FolderClaim {
  const folder = resolve(path);
  checkOutputFolder(folder, kind, options);
  const created = !existsSync(folder);
  markFolder(folder, kind);
  let lock: FolderLock;
  try {
    lock = lockFolder(folder);
  } catch (error) {
    if (created) removeIfUnused(folder, kind);
    throw error;
  }
  try {
    if (kind === 'run') prepareRunFolder(folder, options.resume === true);
  } catch (error) {
    lock.release();
    throw error;
  }
  return {
    folder,
    created,
    release() {
      lock.release();
      if (created) removeIfUnused(folder, kind);
    },
  };
}

function prepareRunFolder(folder: string, resume: boolean): void {
  const holdsRun = existsSync(join(folder, 'checkpoints', 'latest.json')) || existsSync(join(folder, 'model', 'model.json'));
  if (resume || !holdsRun) {
    if (!resume) for (const file of ['metrics.jsonl', 'quarantine.jsonl']) rmSync(join(folder, file), { force: true }); // an earlier, failed start's
    return;
  }
  throw new ConfigError('out', `${folder} already holds a run; pass --resume to continue it or choose another --out`);
}

/** Removes a folder this claim made when nothing but its marker was ever written into it. */
function removeIfUnused(folder: string, kind: FolderKind): void {
  try {
    const left = readdirSync(folder).filter((name) => name !== markerFiles[kind] && name !== lockFileName);
    if (left.length > 0) return;
    rmSync(join(folder, markerFiles[kind]), { force: true });
    rmdirSync(folder);
  } catch {
    // another process wrote into it meanwhile: leave it
  }
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel !== '' && rel.split(sep)[0] !== '..' && !isAbsolute(rel);
}
