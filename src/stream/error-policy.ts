// What a stage does with a sample that fails: data errors (a corrupt or refused image) are quarantined; errors of the
// machine (EMFILE, ENOMEM, EACCES, EIO) and of the code (a TypeError, a bad option) stop the run. A pipeline may choose with `onError`.

import { DataError, StreamfitError, SystemError } from '../errors.ts';
import { isOutOfMemory } from '../memory/out-of-memory.ts';
import type { StageContext } from './stage.ts';

/** data: this sample is bad; system: the machine failed; program: the code or its configuration is wrong. */
export type ErrorKind = 'data' | 'system' | 'program';

/**
 * 'quarantine' (default): quarantine data errors, stop on the others; 'stop': stop on any error; or a function that
 * decides per error (it may quarantine anything, system errors included).
 */
export type ErrorPolicy = 'quarantine' | 'stop' | ((error: unknown, kind: ErrorKind, origin: string) => 'quarantine' | 'stop');

/** Error codes and messages (libvips reports strerror text, not codes) that mean the machine, not the file, failed. */
const systemCodes = new Set([
  'EMFILE',
  'ENFILE',
  'ENOMEM',
  'EACCES',
  'EPERM',
  'EIO',
  'ENOSPC',
  'EROFS',
  'EBUSY',
  'ENXIO',
  'ESTALE',
  'ETIMEDOUT',
]);
const systemMessages =
  /Too many open files|Cannot allocate memory|Permission denied|Operation not permitted|Input\/output error|No space left on device|Read-only file system/i;

export function classifyError(error: unknown): ErrorKind {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && systemCodes.has(code)) return 'system';
  if (error instanceof SystemError || isOutOfMemory(error)) return 'system';
  if (error instanceof DataError) return 'data';
  if (error instanceof StreamfitError) return 'program'; // a config or option error: stop as it is
  if (error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError)
    return 'program';
  if (!(error instanceof Error)) return 'program';
  return systemMessages.test(error.message) ? 'system' : 'data';
}

/** Quarantines the sample (returns undefined) or throws: a SystemError, a DataError, or a program error as it is. */
export function handleSampleError(policy: ErrorPolicy, error: unknown, origin: string, prefix: string, context: StageContext): undefined {
  const kind = classifyError(error);
  const verdict = typeof policy === 'function' ? policy(error, kind, origin) : policy === 'stop' || kind !== 'data' ? 'stop' : 'quarantine';
  const reason = reasonOf(error);
  if (verdict === 'quarantine') {
    context.quarantine.record(origin, `${prefix}${reason}`);
    return undefined;
  }
  if (kind === 'program') throw error;
  if (kind === 'system') throw new SystemError(origin, (error as NodeJS.ErrnoException).code ?? 'system error', reason);
  throw error instanceof DataError ? error : new DataError(origin, `${prefix}${reason}`);
}

/** The error's message on one line (a DataError's reason without its file, which the quarantine records apart). */
export function reasonOf(error: unknown): string {
  const message = error instanceof DataError ? error.reason : error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim();
}
