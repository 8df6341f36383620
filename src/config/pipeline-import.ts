// Imports a pipeline file from anywhere: a `.ts` file outside this package loads as an ES module and may import 'streamfit'
// (src/config/pipeline-hooks.ts), and a syntax error in it is reported with its file, line and column.

import { register } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, StreamfitError } from '../errors.ts';

let registered = false;

/** The module namespace of a pipeline file (its `pipeline`, a sweep's `space`…). */
export async function importPipelineModule(file: string): Promise<Record<string, unknown>> {
  if (!registered) {
    register('./pipeline-hooks.ts', import.meta.url, { data: { index: new URL('../../index.ts', import.meta.url).href } });
    registered = true;
  }
  const url = pathToFileURL(resolve(file));
  url.searchParams.set('streamfit-pipeline', '');
  try {
    return (await import(url.href)) as Record<string, unknown>;
  } catch (error) {
    throw error instanceof StreamfitError ? error : describeImportError(file, error);
  }
}

/** One line that keeps where the error is: esbuild's `file:line:column: ERROR: text`, or the top frame of the stack. */
function describeImportError(file: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const transform = /^(.+?:\d+:\d+): ERROR: (.*)$/m.exec(message);
  if (transform) return new ConfigError('pipeline', `${transform[1]}: ${transform[2]} (a syntax error in the pipeline file)`);
  const path = resolve(file);
  const frame = (error instanceof Error ? (error.stack ?? '') : '')
    .split('\n')
    .map((line) => /(?:file:\/\/)?(\/[^\s():]+):(\d+):(\d+)/.exec(line))
    .find((match) => match && match[1] === path);
  const where = frame ? `${frame[1]}:${frame[2]}:${frame[3]}` : path;
  return new ConfigError('pipeline', `${where}: ${message.split('\n')[0]}`);
}
