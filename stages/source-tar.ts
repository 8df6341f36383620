// Source: tar / tar.gz shards in WebDataset layout (brace patterns like shard-{000..099}.tar), streamed member by member.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { expandBraces } from '../src/data/brace.ts';
import { ClassList, isImageName } from '../src/data/image-files.ts';
import type { EncodedSample } from '../src/data/samples.ts';
import { readTarSamples, type TarSample } from '../src/data/tar-members.ts';
import { DataError } from '../src/errors.ts';
import type { StageContext } from '../src/stream/stage.ts';
import type { DatasetSource } from './source-folder.ts';

export interface TarSourceOptions {
  /** Class names (a .cls holding an integer indexes this list); by default every label found in one streaming pass. */
  classes?: string[];
  /** Members over this size are quarantined, never buffered. Default 256 MiB. */
  maxMemberBytes?: number;
}

const labelExtensions = ['cls', 'txt', 'json'];

export async function tarSource(pattern: string, options: TarSourceOptions = {}): Promise<DatasetSource> {
  const shards = expandBraces(pattern).map((file) => resolve(file));
  for (const shard of shards) if (!existsSync(shard)) throw new DataError(shard, 'shard not found');
  const maxMemberBytes = options.maxMemberBytes ?? 256 * 2 ** 20;
  const given = options.classes;
  const classes = new ClassList(given ?? (await collectLabels(shards, maxMemberBytes)));
  if (classes.names.length === 0) throw new DataError(pattern, 'no labelled samples in the shards');

  const source = async function* (context: StageContext): AsyncGenerator<EncodedSample> {
    for (const shard of shards) {
      const samples = readTarSamples(shard, { wanted: isWanted, maxMemberBytes, signal: context.signal });
      for await (const sample of samples) {
        const origin = `${shard}:${sample.key}`;
        const image = [...sample.members].find(([extension]) => isImageName(`x.${extension}`));
        if (!image) {
          const reason = sample.oversized.length ? `member larger than ${maxMemberBytes} bytes` : 'no image member';
          context.quarantine.record(origin, reason);
          continue;
        }
        const rawLabel = readLabel(sample);
        if (rawLabel === undefined) {
          context.quarantine.record(origin, 'no label member (.cls, .txt or .json)');
          continue;
        }
        const label = given && /^\d+$/.test(rawLabel) && !given.includes(rawLabel) ? given[Number(rawLabel)] : rawLabel;
        const classIndex = label === undefined ? undefined : classes.indexOf(label);
        if (classIndex === undefined) {
          throw new DataError(origin, `label '${rawLabel}' is not a known class (${classes.names.join(', ')})`);
        }
        yield { key: `${sample.key}.${image[0]}`, label: label!, classIndex, origin: `${origin}.${image[0]}`, input: image[1] };
      }
    }
  };
  return Object.assign(source, { classes, description: pattern });
}

function isWanted(extension: string): boolean {
  return labelExtensions.includes(extension) || isImageName(`x.${extension}`);
}

function readLabel(sample: TarSample): string | undefined {
  for (const extension of labelExtensions) {
    const bytes = sample.members.get(extension);
    if (!bytes) continue;
    const text = bytes.toString('utf8').trim();
    if (extension !== 'json') return text;
    try {
      const value = JSON.parse(text);
      const label = typeof value === 'object' && value !== null ? (value.label ?? value.cls ?? value.class) : value;
      if (typeof label === 'string' || typeof label === 'number') return String(label);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

async function collectLabels(shards: string[], maxMemberBytes: number): Promise<Set<string>> {
  const labels = new Set<string>();
  for (const shard of shards) {
    const samples = readTarSamples(shard, { wanted: (extension) => labelExtensions.includes(extension), maxMemberBytes });
    for await (const sample of samples) {
      const label = readLabel(sample);
      if (label !== undefined) labels.add(label);
    }
  }
  return labels;
}
