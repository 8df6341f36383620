// Flag parsing on node:util parseArgs, turning its errors into FlagError (an unknown flag gets the nearest known one), plus
// the output convention: results on stdout, logs on stderr, and with --json one JSON object as the last stdout line.

import { parseArgs } from 'node:util';
import { FlagError } from '../src/errors.ts';

/** A flag: parseArgs' type, the placeholder and line `--help` shows, or `hidden` for one kept only to explain its removal. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's placeholder in --help (N, FOLDER); booleans have none. */
  value?: string;
  help?: string;
  hidden?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

export type FlagValues = Record<string, string | boolean | undefined>;

/** The values parseArgs returns for a table of flags: strings for string flags, booleans for the others. */
export type ValuesOf<T extends FlagSpecs> = { [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string } & {
  json?: boolean;
  help?: boolean;
};

/** Flags every command takes. */
export const commonFlags = {
  json: { type: 'boolean', help: 'print the result as one JSON object, the last line on stdout' },
  help: { type: 'boolean', short: 'h', help: 'print this help' },
} as const satisfies FlagSpecs;

export function parseFlags<T extends FlagSpecs>(argv: string[], specs: T): { values: ValuesOf<T>; positionals: string[] } {
  const all: FlagSpecs = { ...specs, ...commonFlags };
  const options = Object.fromEntries(
    Object.entries(all).map(([name, spec]) => [name, spec.short ? { type: spec.type, short: spec.short } : { type: spec.type }]),
  );
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as ValuesOf<T>, positionals };
  } catch (error) {
    const message = (error as Error).message;
    const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? 'flag';
    if (/argument is ambiguous/.test(message))
      throw new FlagError(flag, `a value that starts with '-' must be joined to its flag: ${flag}=<value>`);
    if ((error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const known = Object.entries(all)
        .filter(([, spec]) => !spec.hidden)
        .map(([name]) => `--${name}`);
      const nearest = nearestFlag(flag.split('=')[0], known);
      throw new FlagError(flag, `unknown flag${nearest ? `; did you mean ${nearest}?` : ''} (--help lists them)`);
    }
    throw new FlagError(flag, message.split('\n')[0]);
  }
}

/** The known flag closest to a mistyped one by edit distance, when it is close enough to be what was meant. */
export function nearestFlag(flag: string, known: readonly string[]): string | undefined {
  const typed = flag.replace(/^-+/, '');
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const candidate = name.replace(/^-+/, '');
    const distance = candidate.startsWith(typed) || typed.startsWith(candidate) ? 1 : editDistance(typed, candidate);
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(typed.length / 3)) ? best.name : undefined;
}

/** Levenshtein distance, with a swap of two neighbouring letters counting once (Damerau). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
    }
  return rows[a.length][b.length];
}

/** A string flag's value (undefined when not given). */
export function stringFlag(values: FlagValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** The value of a flag or of its older alias (`--batch` for `--batch-size`); both at once is refused. */
export function aliasedFlag(values: Record<string, unknown>, name: string, alias: string): string | undefined {
  const [value, old] = [values[name], values[alias]];
  if (value !== undefined && old !== undefined) throw new FlagError(`--${alias}`, `is an alias of --${name}: give one of them`);
  return (value ?? old) as string | undefined;
}

/** Reads a positive integer flag, or the default. */
export function intFlag(value: string | undefined, flag: string, fallback: number, minimum = 1): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum) throw new FlagError(flag, `expected an integer ≥ ${minimum}, got '${value}'`);
  return number;
}

export function numberFlag(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number)) throw new FlagError(flag, `expected a number, got '${value}'`);
  return number;
}

/** Where commands write: stdout for results, stderr for logs and errors. Tests running a command in-process swap these. */
export const terminal = {
  out: (text: string): void => void process.stdout.write(text),
  err: (text: string): void => void process.stderr.write(text),
};

/**
 * A command's result: the human text on stdout; with --json, the JSON object as the last stdout line and the human text on
 * stderr (so a script reading stdout gets only the JSON, and a person watching still sees the result).
 */
export function report(json: boolean | string | undefined, result: unknown, human: string): void {
  const text = human && !human.endsWith('\n') ? `${human}\n` : human;
  if (json) {
    if (text) terminal.err(text);
    terminal.out(`${JSON.stringify(result)}\n`);
  } else if (text) terminal.out(text);
}
