// A self-contained report.html: the run's metrics, timings, sample counts, curves per step and per epoch, the confusion
// matrix and the whole config, as inline SVG and tables; no script, no network.

import { confusionMatrix, escapeHtml, lineChart } from './charts.ts';
import { formatDuration } from './progress-line.ts';
import type { StepPoint } from './step-curve.ts';

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  /** Share of the epoch's training samples the model got right in its training pass (augmented, dropout on), as Keras reports it. */
  trainAccuracy?: number;
  valLoss: number;
  valAccuracy: number;
  valTopK: number;
  learningRate: number;
  /** Wall-clock seconds of the epoch: training, precise BN and validation. (Optional fields: a version-1 checkpoint lacks them.) */
  seconds?: number;
  /** Training throughput over the epoch. */
  imagesPerSec?: number;
  /** Samples trained and validated in the epoch. */
  trainSamples?: number;
  validationSamples?: number;
}

export interface ReportInput {
  /** The run's name (config.name). */
  name: string;
  /** 'completed', 'stopped early', 'interrupted', 'running: epoch 3 of 10'. */
  status: string;
  writtenAt: Date;
  notes: string[];
  history: EpochRecord[];
  steps: readonly StepPoint[];
  /** The epoch whose validation was the best, if any has been validated. */
  bestEpoch?: number;
  /** k of the top-k accuracy. */
  k: number;
  classes: readonly string[];
  /** The confusion matrix and per-class accuracy, and the epoch they are from. */
  confusion?: { epoch: number; matrix: number[][]; perClassAccuracy: number[] };
  /** What ran and on what: model, backend, data, timings, sample counts. */
  facts: Array<[string, string]>;
  /** The resolved config, whole. */
  config: Record<string, unknown>;
}

const colours = { train: '#1f77b4', validation: '#d62728', topK: '#9467bd', rate: '#2ca02c' };
const percent = (share: number | undefined) => (share === undefined ? '–' : `${(share * 100).toFixed(1)}%`);
const fixed = (value: number | undefined) => (value === undefined ? '–' : value.toFixed(4));

export function renderReport(input: ReportInput): string {
  const { history, steps, k } = input;
  const epochs = (pick: (record: EpochRecord) => number | undefined) =>
    history.flatMap((record): Array<[number, number]> => {
      const value = pick(record);
      return value === undefined ? [] : [[record.epoch + 1, value]];
    });
  const formatRate = (value: number) => (value === 0 ? '0' : value.toExponential(1));
  const charts = [
    lineChart({
      title: 'Training loss per optimizer update',
      xLabel: 'step',
      series: [
        {
          name: steps.length > 0 ? 'train loss' : 'train loss (none yet)',
          points: steps.map((p) => [p.step, p.loss]),
          colour: colours.train,
        },
      ],
    }),
    lineChart({
      title: 'Learning rate per optimizer update',
      xLabel: 'step',
      series: [{ name: 'learning rate', points: steps.map((p) => [p.step, p.learningRate]), colour: colours.rate }],
      formatY: formatRate,
    }),
    lineChart({
      title: 'Loss per epoch',
      xLabel: 'epoch',
      series: [
        { name: 'train loss', points: epochs((r) => r.trainLoss), colour: colours.train, markers: true },
        { name: 'validation loss', points: epochs((r) => r.valLoss), colour: colours.validation, markers: true },
      ],
    }),
    lineChart({
      title: 'Accuracy per epoch',
      xLabel: 'epoch',
      series: [
        { name: 'train accuracy', points: epochs((r) => r.trainAccuracy), colour: colours.train, markers: true },
        { name: 'validation accuracy', points: epochs((r) => r.valAccuracy), colour: colours.validation, markers: true },
        { name: `validation top-${k}`, points: epochs((r) => r.valTopK), colour: colours.topK, markers: true },
      ],
      formatY: (value) => `${Math.round(value * 100)}%`,
    }),
  ].join('');
  const best = history.find((record) => record.epoch === input.bestEpoch);
  const final = history.at(-1);
  const metricRow = (label: string, record: EpochRecord | undefined) =>
    `<tr><th>${label}</th><td>${record ? record.epoch + 1 : '–'}</td><td>${fixed(record?.trainLoss)}</td><td>${percent(record?.trainAccuracy)}</td><td>${fixed(record?.valLoss)}</td><td>${percent(record?.valAccuracy)}</td><td>${percent(record?.valTopK)}</td></tr>`;
  const metrics = `<table class="metrics"><tr><th></th><th>epoch</th><th>train loss</th><th>train accuracy</th><th>validation loss</th><th>validation accuracy</th><th>validation top-${k}</th></tr>${metricRow('best', best)}${metricRow('final', final)}</table>`;
  const facts = `<table class="facts">${input.facts.map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(value)}</td></tr>`).join('')}</table>`;
  const confusion = input.confusion
    ? confusionMatrix(
        input.classes,
        input.confusion.matrix,
        `Confusion matrix of epoch ${input.confusion.epoch + 1}${input.confusion.epoch === input.bestEpoch ? ' (the best)' : ''} on the validation set (rows: true class, columns: predicted)`,
      ) +
      `<table class="classes"><tr><th>class</th><th>validation accuracy, epoch ${input.confusion.epoch + 1}</th></tr>${input.classes
        .map((name, i) => `<tr><td>${escapeHtml(name)}</td><td>${percent(input.confusion!.perClassAccuracy[i])}</td></tr>`)
        .join('')}</table>`
    : '<p class="empty">No epoch has been validated yet.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>streamfit run ${escapeHtml(input.name)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;padding:0 16px;color:#222}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.status{color:#555;margin:0 0 12px}.note{background:#fff6d6;border-left:4px solid #e0b000;padding:6px 10px;margin:6px 0}
table{border-collapse:collapse;margin:4px 0}td,th{padding:3px 12px;text-align:left;border-bottom:1px solid #e4e4e4;vertical-align:top}
th{font-weight:600}table.metrics td,table.epochs td{text-align:right;font-variant-numeric:tabular-nums}
.columns{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:flex-start}
figure{display:inline-block;margin:8px 0}figcaption{font-weight:600;margin-bottom:4px}
svg text{font-size:12px;fill:#333}svg .label{font-size:12px;fill:#555}svg .legend{font-size:12px}
svg .axis{stroke:#888}svg .grid{stroke:#e8e8e8}.empty{color:#888;font-style:italic}
code{font-size:13px;background:#f4f4f4;padding:1px 4px}
</style>
</head><body>
<h1>streamfit run ${escapeHtml(input.name)}</h1>
<p class="status">${escapeHtml(input.status)} · report written ${escapeHtml(input.writtenAt.toISOString().replace('T', ' ').slice(0, 19))} UTC</p>
${input.notes.map((note) => `<p class="note">${escapeHtml(note)}</p>`).join('')}
<h2>Metrics</h2>
${metrics}
<h2>Run</h2>
${facts}
<h2>Curves</h2>
<div class="columns">${charts}</div>
<h2>Validation by class</h2>
<div class="columns">${confusion}</div>
<h2>Epochs</h2>
${epochTable(history, k, input.bestEpoch)}
<h2>Config</h2>
${configTable(input.config)}
</body></html>
`;
}

function epochTable(history: EpochRecord[], k: number, bestEpoch: number | undefined): string {
  const rows = history
    .map(
      (r) =>
        `<tr><td>${r.epoch + 1}${r.epoch === bestEpoch ? ' ★' : ''}</td><td>${r.seconds === undefined ? '–' : formatDuration(r.seconds)}</td><td>${r.imagesPerSec?.toFixed(1) ?? '–'}</td><td>${fixed(r.trainLoss)}</td><td>${percent(r.trainAccuracy)}</td><td>${fixed(r.valLoss)}</td><td>${percent(r.valAccuracy)}</td><td>${percent(r.valTopK)}</td><td>${r.learningRate.toExponential(2)}</td></tr>`,
    )
    .join('');
  return `<table class="epochs"><tr><th>epoch</th><th>time</th><th>images/s</th><th>train loss</th><th>train accuracy</th><th>validation loss</th><th>validation accuracy</th><th>top-${k}</th><th>learning rate</th></tr>${rows}</table>${bestEpoch === undefined ? '' : '<p>★ the best epoch</p>'}`;
}

function configTable(config: Record<string, unknown>): string {
  const rows = Object.entries(config)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => {
      const shown = typeof value === 'object' ? `<code>${escapeHtml(JSON.stringify(value))}</code>` : escapeHtml(String(value));
      return `<tr><th>${escapeHtml(key)}</th><td>${shown}</td></tr>`;
    })
    .join('');
  return `<table class="config">${rows}</table>`;
}
