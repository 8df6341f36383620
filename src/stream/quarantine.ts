// The record of samples that could not be used: each file once, with its reason, counted, optionally appended to a JSONL
// file, and optionally capped, so a run whose data is mostly unusable stops instead of training on what little is left.

import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TooManyQuarantined } from '../errors.ts';

export interface QuarantineEntry {
  path: string;
  reason: string;
}

export interface QuarantineLimit {
  /** The files the run reads in all (training and validation), the denominator of the share. */
  files: number;
  /** The largest share of them that may be quarantined (0.05: 5 %); one more stops the run. */
  share: number;
}

export class Quarantine {
  readonly entries: QuarantineEntry[] = [];
  /** Paths already recorded: a file that fails every epoch, or is listed twice, is one entry. */
  private readonly seen = new Set<string>();
  private limit?: QuarantineLimit;

  /** @param file JSONL file that gets one line per quarantined file (created on first use). */
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

  /** Takes in the entries the file already holds (a resumed run), so they are neither written nor counted twice. */
  load(): void {
    if (!this.file || !existsSync(this.file)) return;
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const { path, reason } = JSON.parse(line) as QuarantineEntry;
        if (typeof path === 'string' && !this.seen.has(path)) {
          this.seen.add(path);
          this.entries.push({ path, reason: String(reason) });
        }
      } catch {
        // a line cut short by a crash mid-write: the file will be quarantined again if it fails again
      }
    }
  }

  /** From now on, a record that takes the count past `share × files` throws TooManyQuarantined (and so stops the stream). */
  setLimit(limit: QuarantineLimit): void {
    this.limit = limit;
    this.checkLimit();
  }

  record(path: string, reason: string): void {
    if (this.seen.has(path)) return;
    this.seen.add(path);
    const entry = { path, reason: reason.split('\n')[0] };
    this.entries.push(entry);
    if (this.file) {
      mkdirSync(dirname(this.file), { recursive: true });
      appendFileSync(this.file, `${JSON.stringify({ ...entry, time: new Date().toISOString() })}\n`);
    }
    this.checkLimit();
  }

  private checkLimit(): void {
    const limit = this.limit;
    if (limit && this.count > limit.share * limit.files) throw new TooManyQuarantined(this.count, limit.files, limit.share, this.file);
  }
}
