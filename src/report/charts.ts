// Inline SVG charts for report.html: line charts with ticked, labelled axes, and the confusion matrix. No script.

export interface Series {
  name: string;
  /** [x, y] points; non-finite ys are left out. */
  points: Array<[number, number]>;
  colour: string;
  /** Draw a dot at every point (epoch charts); per-step curves are lines alone. */
  markers?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  series: Series[];
  /** How y tick labels are written. Default: up to 3 decimals. */
  formatY?: (value: number) => string;
  /** Start the y axis at 0 (losses, accuracies). Default true. */
  fromZero?: boolean;
  /** Whole-number x ticks only (epochs, steps). Default true. */
  integerX?: boolean;
}

export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/** About `count` round tick values from at or below `low` to at or above `high` (1, 2 or 5 times a power of ten apart). */
export function niceTicks(low: number, high: number, count = 5, integer = false): number[] {
  if (!Number.isFinite(low) || !Number.isFinite(high)) return [];
  if (high <= low) high = low + (low === 0 ? 1 : Math.abs(low) * 0.1);
  const raw = (high - low) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw) ?? 10 * power;
  if (integer) step = Math.max(1, Math.round(step));
  const ticks: number[] = [];
  // From the last tick at or below `low` to the first at or above `high`, so the data lies within the axis.
  const [first, last] = [Math.floor(low / step + 1e-9), Math.ceil(high / step - 1e-9)];
  for (let index = first; index <= last; index++) ticks.push(Number((index * step).toPrecision(12)));
  return ticks;
}

/** A line chart with a legend, ticks and grid lines on both axes, and axis labels. */
export function lineChart(options: ChartOptions): string {
  const { title, xLabel, series, formatY = (value) => String(Number(value.toFixed(3))), fromZero = true, integerX = true } = options;
  const [width, height] = [540, 280];
  const margin = { left: 64, right: 16, top: 16 + 16 * Math.ceil(series.length / 3), bottom: 44 };
  const points = series.flatMap((s) => s.points.filter(([, y]) => Number.isFinite(y)));
  if (points.length === 0) return `<figure><figcaption>${escapeHtml(title)}</figcaption><p class="empty">no data yet</p></figure>`;
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  let [xLow, xHigh] = [Math.min(...xs), Math.max(...xs)];
  if (xLow === xHigh) [xLow, xHigh] = [xLow - 1, xHigh + 1];
  const xTicks = niceTicks(xLow, xHigh, 6, integerX).filter((tick) => tick >= xLow && tick <= xHigh);
  const yTicks = niceTicks(fromZero ? Math.min(0, ...ys) : Math.min(...ys), Math.max(...ys), 5);
  const [yLow, yHigh] = [yTicks[0], yTicks.at(-1)!];
  const plot = { x0: margin.left, x1: width - margin.right, y0: height - margin.bottom, y1: margin.top };
  const x = (value: number) => plot.x0 + ((value - xLow) / (xHigh - xLow)) * (plot.x1 - plot.x0);
  const y = (value: number) => plot.y0 - ((value - yLow) / (yHigh - yLow || 1)) * (plot.y0 - plot.y1);
  const grid = [
    ...yTicks.map(
      (tick) =>
        `<line x1="${plot.x0}" y1="${y(tick).toFixed(1)}" x2="${plot.x1}" y2="${y(tick).toFixed(1)}" class="grid"/>` +
        `<text x="${plot.x0 - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end">${escapeHtml(formatY(tick))}</text>`,
    ),
    ...xTicks.map(
      (tick) =>
        `<line x1="${x(tick).toFixed(1)}" y1="${plot.y0}" x2="${x(tick).toFixed(1)}" y2="${plot.y0 + 5}" class="axis"/>` +
        `<text x="${x(tick).toFixed(1)}" y="${plot.y0 + 18}" text-anchor="middle">${tick}</text>`,
    ),
  ].join('');
  const axes =
    `<line x1="${plot.x0}" y1="${plot.y0}" x2="${plot.x1}" y2="${plot.y0}" class="axis"/>` +
    `<line x1="${plot.x0}" y1="${plot.y1}" x2="${plot.x0}" y2="${plot.y0}" class="axis"/>` +
    `<text x="${(plot.x0 + plot.x1) / 2}" y="${height - 6}" text-anchor="middle" class="label">${escapeHtml(xLabel)}</text>`;
  const lines = series
    .map((s) => {
      const shown = s.points.filter(([, v]) => Number.isFinite(v));
      const path = shown.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
      const dots = s.markers
        ? shown
            .map(
              ([px, py]) =>
                `<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="3" fill="${s.colour}"><title>${escapeHtml(s.name)} at ${xLabel} ${px}: ${formatY(py)}</title></circle>`,
            )
            .join('')
        : '';
      return `<polyline fill="none" stroke="${s.colour}" stroke-width="${s.markers ? 2 : 1.5}" points="${path}"/>${dots}`;
    })
    .join('');
  const legend = series
    .map(
      (s, i) =>
        `<text x="${margin.left + (i % 3) * 160}" y="${16 + 16 * Math.floor(i / 3)}" class="legend"><tspan fill="${s.colour}">■</tspan> ${escapeHtml(s.name)}</text>`,
    )
    .join('');
  return `<figure><figcaption>${escapeHtml(title)}</figcaption><svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">${grid}${axes}${legend}${lines}</svg></figure>`;
}

/** Rows are true classes, columns predicted; the diagonal is green, errors red, each cell with its count. */
export function confusionMatrix(classes: readonly string[], matrix: number[][], caption: string): string {
  const cell = Math.max(28, Math.min(64, Math.floor(480 / Math.max(1, classes.length))));
  // Room for the longest class name (about 7 px a character at 12 px) beside the rows, and the axis title left of it.
  const label = Math.min(200, 34 + 7 * Math.max(4, ...classes.map((name) => name.length)));
  const size = label + cell * classes.length;
  const max = Math.max(1, ...matrix.flat());
  const cells = matrix
    .map((row, actual) =>
      row
        .map((count, predicted) => {
          const shade = Math.round(255 - (count / max) * 200);
          const fill = actual === predicted ? `rgb(${shade},255,${shade})` : `rgb(255,${shade},${shade})`;
          const [cx, cy] = [label + predicted * cell, label + actual * cell];
          return `<rect x="${cx}" y="${cy}" width="${cell}" height="${cell}" fill="${fill}" stroke="#fff"/><text x="${cx + cell / 2}" y="${cy + cell / 2 + 4}" text-anchor="middle">${count}</text>`;
        })
        .join(''),
    )
    .join('');
  const names = classes
    .map(
      (name, i) =>
        `<text x="${label - 6}" y="${label + i * cell + cell / 2 + 4}" text-anchor="end">${escapeHtml(name)}</text>` +
        `<text transform="translate(${label + i * cell + cell / 2},${label - 6}) rotate(-45)">${escapeHtml(name)}</text>`,
    )
    .join('');
  const axes =
    `<text x="${label + (cell * classes.length) / 2}" y="14" text-anchor="middle" class="label">predicted</text>` +
    `<text transform="translate(14,${label + (cell * classes.length) / 2}) rotate(-90)" text-anchor="middle" class="label">true class</text>`;
  return `<figure><figcaption>${escapeHtml(caption)}</figcaption><svg width="${size + 10}" height="${size + 10}" role="img" aria-label="confusion matrix">${axes}${names}${cells}</svg></figure>`;
}
