// Progress for people and machines: one rewritten line on a terminal, JSON lines otherwise (both on stderr; stdout keeps the --json result).

import { formatBytes } from '../config/bytes.ts';

export interface ProgressReading {
  epoch: number;
  epochs: number;
  step: number;
  loss: number;
  imagesPerSec: number;
  learningRate: number;
  queueDepth?: number;
  consumerStallMs?: number;
  rssBytes: number;
  numTensors: number;
  etaSeconds?: number;
}

export class ProgressReporter {
  private lastLine = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(process.stderr.isTTY),
  ) {}

  step(reading: ProgressReading): void {
    if (!this.tty) {
      this.stream.write(`${JSON.stringify({ event: 'step', ...reading })}\n`);
      return;
    }
    const now = Date.now();
    if (now - this.lastLine < 200) return; // a terminal does not need more than five updates a second
    this.lastLine = now;
    const eta = reading.etaSeconds === undefined ? '' : ` eta ${formatDuration(reading.etaSeconds)}`;
    const queue = reading.queueDepth === undefined ? '' : ` queue ${reading.queueDepth}`;
    const line =
      `epoch ${reading.epoch + 1}/${reading.epochs} step ${reading.step} loss ${reading.loss.toFixed(4)} ` +
      `${reading.imagesPerSec.toFixed(1)} img/s lr ${reading.learningRate.toExponential(2)}${queue} ` +
      `rss ${formatBytes(reading.rssBytes)} tensors ${reading.numTensors}${eta}`;
    this.stream.write(`\r\x1b[K${line}`);
  }

  message(text: string, fields: Record<string, unknown> = {}): void {
    if (this.tty) this.stream.write(`\r\x1b[K${text}\n`);
    else this.stream.write(`${JSON.stringify({ event: 'message', message: text, ...fields })}\n`);
  }
}

function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}
