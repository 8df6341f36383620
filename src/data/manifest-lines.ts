// Reads a manifest (CSV or JSONL of path,label) line by line, never whole.

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DataError } from '../errors.ts';

export interface ManifestRow {
  path: string;
  label: string;
  line: number;
}

export async function* readManifest(file: string): AsyncGenerator<ManifestRow> {
  const jsonl = /\.jsonl?$/i.test(file);
  const stream = createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (error: NodeJS.ErrnoException) =>
      reject(new DataError(file, `cannot read manifest (${error.code ?? error.message})`)),
    );
  });
  await opened;
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of lines) {
      line++;
      if (text.trim() === '') continue;
      const row = jsonl ? parseJsonLine(file, line, text) : parseCsvLine(file, line, text);
      if (row) yield row;
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

function parseJsonLine(file: string, line: number, text: string): ManifestRow {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DataError(`${file}:${line}`, 'not valid JSON');
  }
  const record = value as Record<string, unknown>;
  if (typeof record?.path !== 'string') throw new DataError(`${file}:${line}`, "field 'path' must be a string");
  if (typeof record.label !== 'string' && typeof record.label !== 'number') {
    throw new DataError(`${file}:${line}`, "field 'label' must be a string or number");
  }
  return { path: record.path, label: String(record.label), line };
}

function parseCsvLine(file: string, line: number, text: string): ManifestRow | undefined {
  const fields = splitCsv(text);
  if (line === 1 && fields[0]?.toLowerCase() === 'path' && fields[1]?.toLowerCase() === 'label') return undefined;
  if (fields.length < 2 || fields[0] === '' || fields[1] === '') {
    throw new DataError(`${file}:${line}`, 'expected two fields: path,label');
  }
  return { path: fields[0], label: fields[1], line };
}

/** Splits one CSV line; fields may be double-quoted with "" as an escaped quote. */
function splitCsv(text: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      fields.push(field.trim());
      field = '';
    } else field += char;
  }
  fields.push(field.trim());
  return fields;
}
