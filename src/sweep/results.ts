// A sweep's records: one per trial, written beside the trials as results.json, results.csv, best.json and report.html.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChart } from '../report/html-report.ts';
import type { TrialParams } from './space.ts';

export type TrialStatus = 'pending' | 'running' | 'done' | 'stopped' | 'failed';

export interface TrialRecord {
  id: string;
  params: TrialParams;
  status: TrialStatus;
  /** The chosen metric at the trial's best epoch, or null before its first rung. */
  metric: number | null;
  epochs: number;
  reason?: string;
  /** Whether it trained from the feature cache (frozen-backbone trials). */
  cached?: boolean;
  seconds?: number;
  /** The metric each rung reached, in rung order: what the halving decisions are replayed from on a re-run. */
  rungs?: Array<{ epochs: number; metric: number | null }>;
  /** With the executor slurm: the job (`<array job>_<task>`) and node of the trial's last run. */
  jobId?: string;
  node?: string;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

export function sortTrials(trials: TrialRecord[], higherIsBetter: boolean): TrialRecord[] {
  const score = (trial: TrialRecord) => (trial.metric === null ? -Infinity : higherIsBetter ? trial.metric : -trial.metric);
  return [...trials].sort((a, b) => score(b) - score(a));
}

export function writeSweepResults(
  folder: string,
  trials: TrialRecord[],
  metric: string,
  higherIsBetter: boolean,
  baseConfig: Record<string, unknown>,
): TrialRecord | undefined {
  const sorted = sortTrials(trials, higherIsBetter);
  const best = sorted.find((trial) => trial.metric !== null && trial.status !== 'failed');
  const parameterNames = [...new Set(trials.flatMap((trial) => Object.keys(trial.params)))];
  const onSlurm = trials.some((trial) => trial.jobId);
  const csv = [
    ['id', 'status', metric, 'epochs', ...parameterNames, 'reason', ...(onSlurm ? ['jobId', 'node'] : [])].join(','),
    ...sorted.map((trial) =>
      [
        trial.id,
        trial.status,
        trial.metric ?? '',
        trial.epochs,
        ...parameterNames.map((name) => JSON.stringify(trial.params[name] ?? '')),
        JSON.stringify(trial.reason ?? ''),
        ...(onSlurm ? [trial.jobId ?? '', trial.node ?? ''] : []),
      ].join(','),
    ),
  ].join('\n');
  writeFileSync(join(folder, 'results.csv'), `${csv}\n`);
  writeFileSync(join(folder, 'results.json'), JSON.stringify({ metric, trials: sorted }, null, 2));
  if (best)
    writeFileSync(
      join(folder, 'best.json'),
      JSON.stringify({ id: best.id, metric: best.metric, params: best.params, config: { ...baseConfig, ...best.params } }, null, 2),
    );
  writeFileSync(join(folder, 'report.html'), renderSweepReport(folder, sorted, metric, best, baseConfig));
  return best;
}

function learningCurve(folder: string, id: string, metric: string): number[] {
  const file = join(folder, id, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, number | string>)
    .filter((record) => record.type === 'epoch')
    .map((record) => Number(record[metric]));
}

function renderSweepReport(
  folder: string,
  sorted: TrialRecord[],
  metric: string,
  best: TrialRecord | undefined,
  baseConfig: Record<string, unknown>,
): string {
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
  const curves = lineChart(
    `${metric} per epoch`,
    sorted.map((trial, i) => ({ name: trial.id, values: learningCurve(folder, trial.id, metric), colour: colours[i % colours.length] })),
  );
  const onSlurm = sorted.some((trial) => trial.jobId);
  const rows = sorted
    .map(
      (trial) =>
        `<tr><td>${escapeHtml(trial.id)}</td><td>${trial.status}</td><td>${trial.metric === null ? '–' : trial.metric.toFixed(4)}</td><td>${trial.epochs}</td><td><code>${escapeHtml(JSON.stringify(trial.params))}</code></td><td>${escapeHtml(trial.reason ?? '')}</td>${onSlurm ? `<td>${escapeHtml(trial.jobId ?? '')}</td><td>${escapeHtml(trial.node ?? '')}</td>` : ''}</tr>`,
    )
    .join('');
  const bestConfig = best ? JSON.stringify({ ...baseConfig, ...best.params }, null, 2) : 'no trial finished';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>streamfit sweep</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #ddd}pre{background:#f6f6f6;padding:1em}</style>
</head><body>
<h1>Sweep: ${sorted.length} trials, sorted by ${escapeHtml(metric)}</h1>
<table><tr><th>trial</th><th>status</th><th>${escapeHtml(metric)}</th><th>epochs</th><th>parameters</th><th>note</th>${onSlurm ? '<th>job</th><th>node</th>' : ''}</tr>${rows}</table>
${curves}
<h2>Best config${best ? ` (${escapeHtml(best.id)})` : ''}, ready to copy</h2>
<pre>${escapeHtml(bestConfig)}</pre>
</body></html>
`;
}
