// The record of samples that could not be used: each with its path and reason, counted, optionally appended to a JSONL file.

import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface QuarantineEntry {
  path: string;
  reason: string;
}

export class Quarantine {
  readonly entries: QuarantineEntry[] = [];

  /** @param file JSONL file that gets one line per quarantined sample (created on first use). */
  constructor(readonly file?: string) {}

  get count(): number {
    return this.entries.length;
  }

  /** Creates the (empty) file, so every run folder has one even when nothing was quarantined. */
  touch(): void {
    if (!this.file) return;
    mkdirSync(dirname(this.file), { recursive: true });
    appendFileSync(this.file, '');
  }

  record(path: string, reason: string): void {
    const entry = { path, reason: reason.split('\n')[0] };
    this.entries.push(entry);
    if (this.file) {
      mkdirSync(dirname(this.file), { recursive: true });
      appendFileSync(this.file, `${JSON.stringify({ ...entry, time: new Date().toISOString() })}\n`);
    }
  }
}
