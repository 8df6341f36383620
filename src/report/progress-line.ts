// The lines people read: the rewritten progress line of a terminal (fitted to its width) and the one line per epoch.

import { formatBytes } from '../config/bytes.ts';

/** One optimizer update, as the progress line shows it. */
export interface StepReading {
  epoch: number;
  epochs: number;
  /** Updates of this epoch so far, and about how many it has. */
  stepInEpoch: number;
  stepsPerEpoch: number;
  /** Updates over the whole run. */
  step: number;
  /** The update's loss, and the epoch's running mean loss and accuracy. */
  loss: number;
  meanLoss: number;
  accuracy: number;
  imagesPerSec: number;
  learningRate: number;
  queueDepth?: number;
  consumerStallMs?: number;
  rssBytes: number;
  numTensors: number;
  etaSeconds?: number;
  quarantined: number;
}

/** Validation under way. */
export interface ValidationReading {
  epoch: number;
  epochs: number;
  samples: number;
  total: number;
  etaSeconds?: number;
  quarantined: number;
}

/** A finished epoch. */
export interface EpochReading {
  epoch: number;
  epochs: number;
  seconds: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number;
  valAccuracy: number;
  k: number;
  valTopK: number;
  learningRate: number;
  imagesPerSec: number;
  quarantined: number;
  best: boolean;
}

interface Part {
  text: string;
  /** Lower is kept longer when the terminal is narrow. */
  priority: number;
}

const bar = { min: 10, max: 30 };

/** The terminal's progress line during training, at most `columns − 1` characters wide. */
export function stepLine(reading: StepReading, columns: number): string {
  const steps = Math.max(reading.stepsPerEpoch, reading.stepInEpoch);
  return fitLine(
    `epoch ${reading.epoch + 1}/${reading.epochs}`,
    reading.stepInEpoch / steps,
    `${reading.stepInEpoch}/${steps}`,
    [
      { text: `loss ${reading.meanLoss.toFixed(4)}`, priority: 0 },
      { text: `acc ${percent(reading.accuracy)}`, priority: 2 },
      { text: `eta ${reading.etaSeconds === undefined ? '…' : formatDuration(reading.etaSeconds)}`, priority: 0 },
      { text: `quarantined ${reading.quarantined}`, priority: 1 },
      { text: `${reading.imagesPerSec.toFixed(1)} img/s`, priority: 3 },
      { text: `lr ${reading.learningRate.toExponential(2)}`, priority: 4 },
      ...(reading.queueDepth === undefined ? [] : [{ text: `queue ${reading.queueDepth}`, priority: 5 }]),
      { text: `rss ${formatBytes(reading.rssBytes)}`, priority: 6 },
      { text: `tensors ${reading.numTensors}`, priority: 7 },
    ],
    columns,
  );
}

/** The terminal's progress line during validation. */
export function validationLine(reading: ValidationReading, columns: number): string {
  const total = Math.max(reading.total, reading.samples, 1);
  return fitLine(
    `epoch ${reading.epoch + 1}/${reading.epochs} validating`,
    reading.samples / total,
    `${reading.samples}/${total}`,
    [
      { text: `eta ${reading.etaSeconds === undefined ? '…' : formatDuration(reading.etaSeconds)}`, priority: 0 },
      { text: `quarantined ${reading.quarantined}`, priority: 1 },
    ],
    columns,
  );
}

/** One plain line per epoch (Keras' verbose=2): on a terminal it replaces the progress line; off one it is all there is. */
export function epochLine(reading: EpochReading): string {
  return [
    `epoch ${reading.epoch + 1}/${reading.epochs}`,
    formatDuration(reading.seconds),
    `loss ${reading.trainLoss.toFixed(4)}`,
    `accuracy ${percent(reading.trainAccuracy)}`,
    `val loss ${reading.valLoss.toFixed(4)}`,
    `val accuracy ${percent(reading.valAccuracy)}`,
    `val top-${reading.k} ${percent(reading.valTopK)}`,
    `lr ${reading.learningRate.toExponential(2)}`,
    `${reading.imagesPerSec.toFixed(1)} img/s`,
    `quarantined ${reading.quarantined}`,
    ...(reading.best ? ['best'] : []),
  ].join(' - ');
}

/**
 * `head [bar] count parts…`: drops the parts a narrow terminal cannot hold, lowest priority first (priority 0 stays), then
 * gives the bar what is left (10 to 30 cells, or none); a terminal too narrow even for that gets the line cut.
 */
function fitLine(head: string, fraction: number, count: string, parts: Part[], columns: number): string {
  const width = Math.max(20, columns - 1); // the last column would wrap on some terminals
  const kept = [...parts];
  const length = (list: Part[]) => [head, count, ...list.map((part) => part.text)].join(' ').length;
  for (;;) {
    const optional = kept.filter((part) => part.priority > 0);
    if (optional.length === 0 || length(kept) + bar.min + 3 <= width) break;
    const lowest = optional.reduce((worst, part) => (part.priority > worst.priority ? part : worst));
    kept.splice(kept.indexOf(lowest), 1);
  }
  const cells = Math.min(bar.max, width - length(kept) - 3);
  const drawn = cells >= bar.min ? ` ${drawBar(fraction, cells)}` : '';
  return `${head}${drawn} ${[count, ...kept.map((part) => part.text)].join(' ')}`.slice(0, width);
}

function drawBar(fraction: number, cells: number): string {
  const done = Math.round(Math.min(1, Math.max(0, fraction)) * cells);
  return `[${'='.repeat(Math.max(0, done - 1))}${done > 0 ? (done === cells ? '=' : '>') : ''}${' '.repeat(cells - done)}]`;
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`;

/** 42s, 3m05s, 1h02m. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
