// A self-contained report.html: loss and accuracy curves and the confusion matrix as inline SVG; no script, no network.

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
  title: string;
  notes: string[];
  history: EpochRecord[];
  classes: readonly string[];
  confusion: number[][];
  perClassAccuracy: number[];
  summary: Record<string, unknown>;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/** An SVG line chart of several series over epochs. */
export function lineChart(title: string, series: Array<{ name: string; values: number[]; colour: string }>): string {
  // Legend entries go three to a row above the plot; the plot starts below them.
  const legendRows = Math.ceil(series.length / 3);
  const [width, margin] = [520, 40];
  const top = margin + 14 * (legendRows - 1);
  const height = 240 + 14 * (legendRows - 1);
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const count = Math.max(...series.map((s) => s.values.length), 1);
  const low = Math.min(0, ...all);
  const high = Math.max(1e-9, ...all);
  const x = (i: number) => margin + (count === 1 ? 0 : (i / (count - 1)) * (width - 2 * margin));
  const y = (v: number) => height - margin - ((v - low) / (high - low)) * (height - margin - top);
  const paths = series
    .map((s) => {
      const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      return (
        `<polyline fill="none" stroke="${s.colour}" stroke-width="2" points="${points}"/>` +
        s.values
          .map(
            (v, i) =>
              `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${s.colour}"><title>${escapeHtml(s.name)} epoch ${i + 1}: ${v.toFixed(4)}</title></circle>`,
          )
          .join('')
      );
    })
    .join('');
  const legend = series
    .map(
      (s, i) =>
        `<text x="${margin + (i % 3) * 150}" y="${16 + 14 * Math.floor(i / 3)}" fill="${s.colour}" font-size="12">■ ${escapeHtml(s.name)}</text>`,
    )
    .join('');
  const axes =
    `<line x1="${margin}" y1="${height - margin}" x2="${width - margin}" y2="${height - margin}" stroke="#888"/><line x1="${margin}" y1="${top}" x2="${margin}" y2="${height - margin}" stroke="#888"/>` +
    `<text x="4" y="${y(high) + 4}" font-size="11">${high.toFixed(2)}</text><text x="4" y="${y(low) + 4}" font-size="11">${low.toFixed(2)}</text>` +
    `<text x="${width / 2}" y="${height - 8}" font-size="11" text-anchor="middle">epoch (1–${count})</text>`;
  return `<figure><figcaption>${escapeHtml(title)}</figcaption><svg width="${width}" height="${height}" role="img" aria-label="${escapeHtml(title)}">${axes}${legend}${paths}</svg></figure>`;
}

export function confusionMatrix(classes: readonly string[], matrix: number[][]): string {
  const cell = 36;
  const label = 110;
  const size = label + cell * classes.length;
  const max = Math.max(1, ...matrix.flat());
  const cells = matrix
    .map((row, actual) =>
      row
        .map((count, predicted) => {
          const shade = Math.round(255 - (count / max) * 200);
          const fill = actual === predicted ? `rgb(${shade},${255},${shade})` : `rgb(255,${shade},${shade})`;
          return `<rect x="${label + predicted * cell}" y="${label + actual * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#fff"/><text x="${label + predicted * cell + cell / 2}" y="${label + actual * cell + cell / 2 + 4}" font-size="11" text-anchor="middle">${count}</text>`;
        })
        .join(''),
    )
    .join('');
  const names = classes
    .map(
      (name, i) =>
        `<text x="${label - 4}" y="${label + i * cell + cell / 2 + 4}" font-size="11" text-anchor="end">${escapeHtml(name)}</text><text transform="translate(${label + i * cell + cell / 2},${label - 4}) rotate(-45)" font-size="11">${escapeHtml(name)}</text>`,
    )
    .join('');
  return `<figure><figcaption>Confusion matrix (rows: true class, columns: predicted)</figcaption><svg width="${size + 10}" height="${size + 10}" role="img" aria-label="confusion matrix">${names}${cells}</svg></figure>`;
}

export function renderReport(input: ReportInput): string {
  const epochs = input.history;
  const lossChart = lineChart('Loss', [
    { name: 'train loss', values: epochs.map((e) => e.trainLoss), colour: '#1f77b4' },
    { name: 'validation loss', values: epochs.map((e) => e.valLoss), colour: '#d62728' },
  ]);
  const accuracyChart = lineChart('Validation accuracy', [
    { name: 'accuracy', values: epochs.map((e) => e.valAccuracy), colour: '#2ca02c' },
    { name: 'top-k', values: epochs.map((e) => e.valTopK), colour: '#9467bd' },
  ]);
  const perClass = input.classes
    .map((name, i) => `<tr><td>${escapeHtml(name)}</td><td>${((input.perClassAccuracy[i] ?? 0) * 100).toFixed(1)}%</td></tr>`)
    .join('');
  const summary = Object.entries(input.summary)
    .map(
      ([key, value]) =>
        `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(typeof value === 'string' ? value : JSON.stringify(value))}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}figure{display:inline-block;margin:1em}table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}</style>
</head><body>
<h1>${escapeHtml(input.title)}</h1>
${input.notes.map((note) => `<p><strong>${escapeHtml(note)}</strong></p>`).join('')}
<table>${summary}</table>
${lossChart}${accuracyChart}
${confusionMatrix(input.classes, input.confusion)}
<h2>Per-class accuracy (best epoch)</h2><table><tr><th>class</th><th>accuracy</th></tr>${perClass}</table>
</body></html>
`;
}
