// Brace expansion for shard patterns: `shard-{000..099}.tar`, `{train,extra}-{0..3}.tar.gz`.

/** Every name a pattern stands for, in order. Numeric ranges keep the zero padding of their bounds. */
export function expandBraces(pattern: string): string[] {
  const open = pattern.indexOf('{');
  if (open < 0) return [pattern];
  const close = pattern.indexOf('}', open);
  if (close < 0) return [pattern];
  const head = pattern.slice(0, open);
  const body = pattern.slice(open + 1, close);
  const tails = expandBraces(pattern.slice(close + 1));
  const range = /^(-?\d+)\.\.(-?\d+)$/.exec(body);
  let parts: string[];
  if (range) {
    const [from, to] = [Number(range[1]), Number(range[2])];
    const width = range[1].length === range[2].length && range[1].startsWith('0') ? range[1].length : 0;
    const step = from <= to ? 1 : -1;
    parts = [];
    for (let n = from; step > 0 ? n <= to : n >= to; n += step) parts.push(String(n).padStart(width, '0'));
  } else {
    parts = body.split(',');
  }
  return parts.flatMap((part) => tails.map((tail) => head + part + tail));
}
