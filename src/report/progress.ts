// Progress on stderr (stdout keeps results): a rewritten line on a terminal, one plain line per epoch off one (Keras'
// verbose=2), or JSON lines for machines (--json).

import { type EpochReading, epochLine, type StepReading, stepLine, type ValidationReading, validationLine } from './progress-line.ts';

export type { EpochReading, StepReading, ValidationReading } from './progress-line.ts';

/** 'terminal': a progress line rewritten in place; 'epochs': plain lines, one per epoch; 'json': one JSON object a line. */
export type ProgressMode = 'terminal' | 'epochs' | 'json';

export interface ProgressOptions {
  /** Default: 'terminal' when the stream is a TTY, else 'epochs'. */
  mode?: ProgressMode;
  /** The terminal's width. Default: the stream's `columns`, else 80. */
  columns?: () => number;
}

export class ProgressReporter {
  readonly mode: ProgressMode;
  private readonly columns: () => number;
  private lastDrawn = 0;

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr,
    options: ProgressOptions = {},
  ) {
    this.mode = options.mode ?? (stream.isTTY ? 'terminal' : 'epochs');
    this.columns = options.columns ?? (() => stream.columns || 80);
  }

  step(reading: StepReading): void {
    if (this.mode === 'json') this.json({ event: 'step', ...reading });
    // The epoch's last update is drawn whatever the time, so the bar ends full.
    else if (this.mode === 'terminal') this.draw(stepLine(reading, this.columns()), reading.stepInEpoch >= reading.stepsPerEpoch);
  }

  validation(reading: ValidationReading): void {
    if (this.mode === 'terminal') this.draw(validationLine(reading, this.columns()), reading.samples >= reading.total);
  }

  epoch(reading: EpochReading): void {
    if (this.mode === 'json') this.json({ event: 'epoch', ...reading });
    else this.line(epochLine(reading));
  }

  message(text: string, fields: Record<string, unknown> = {}): void {
    if (this.mode === 'json') this.json({ event: 'message', message: text, ...fields });
    else this.line(text);
  }

  /** A permanent line; on a terminal it replaces the progress line, which the next reading draws again below it. */
  private line(text: string): void {
    this.stream.write(this.mode === 'terminal' ? `\r\x1b[K${text}\n` : `${text}\n`);
  }

  private draw(text: string, force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDrawn < 200) return; // a terminal does not need more than five updates a second
    this.lastDrawn = now;
    this.stream.write(`\r\x1b[K${text}`);
  }

  private json(record: Record<string, unknown>): void {
    this.stream.write(`${JSON.stringify(record)}\n`);
  }
}
