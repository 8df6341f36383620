// Streams a tar or tar.gz shard as WebDataset samples: consecutive members grouped by key (path up to the first dot of the basename).

import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { DataError } from '../errors.ts';

export interface TarSample {
  key: string;
  /** Member contents by extension ('jpg', 'cls', 'seg.png', …). */
  members: Map<string, Buffer>;
  /** Members left unread because they exceeded the size limit, by extension. */
  oversized: string[];
}

export interface TarReadOptions {
  /** Extensions whose contents are read; others are skipped without buffering. */
  wanted: (extension: string) => boolean;
  /** Members larger than this are not buffered. */
  maxMemberBytes: number;
  signal?: AbortSignal;
}

export function splitMemberName(name: string): { key: string; extension: string } {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  if (dot < 0) return { key: name, extension: '' };
  return { key: name.slice(0, dot), extension: name.slice(dot + 1).toLowerCase() };
}

export async function* readTarSamples(file: string, options: TarReadOptions): AsyncGenerator<TarSample> {
  const extract = tar.extract();
  const input = createReadStream(file);
  const gzipped = /\.(tar\.gz|tgz)$/i.test(file);
  let failure: Error | undefined;
  const onError = (error: Error | null | undefined) => {
    if (error) failure ??= error;
  };
  if (gzipped) pipeline(input, createGunzip(), extract, onError);
  else pipeline(input, extract, onError);

  let current: TarSample | undefined;
  let memberName = '';
  try {
    for await (const entry of extract) {
      options.signal?.throwIfAborted();
      memberName = entry.header.name;
      if (entry.header.type !== 'file') {
        entry.resume();
        continue;
      }
      const { key, extension } = splitMemberName(memberName);
      if (current && current.key !== key) {
        yield current;
        current = undefined;
      }
      current ??= { key, members: new Map(), oversized: [] };
      if (!options.wanted(extension)) {
        entry.resume();
        continue;
      }
      if ((entry.header.size ?? 0) > options.maxMemberBytes) {
        current.oversized.push(extension);
        entry.resume();
        continue;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      current.members.set(extension, Buffer.concat(chunks));
    }
  } catch (error) {
    throw describeTarError(file, memberName, failure ?? (error as Error));
  } finally {
    input.destroy();
    extract.destroy();
  }
  if (failure) throw describeTarError(file, memberName, failure);
  if (current) yield current;
}

function describeTarError(file: string, member: string, error: Error): Error {
  if (error instanceof DataError || error.name === 'AbortError') return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new DataError(file, 'shard not found');
  const where = member ? ` (in or after member '${member}')` : '';
  if (/unexpected end/i.test(error.message)) return new DataError(file, `tar ends in the middle of a member${where}`);
  return new DataError(file, `cannot read tar: ${error.message}${where}`);
}
