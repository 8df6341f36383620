// Flag parsing on node:util parseArgs, turning its errors into FlagError (an unknown flag gets the nearest known one), plus
// the output convention: results on stdout, logs on stderr, and with --json one JSON object as the last stdout line.

import { parseArgs } from 'node:util';
import { type FlagSpecs, type FlagValues, nearestName } from '../src/config/config-flags.ts';
import { FlagError } from '../src/errors.ts';

export type { FlagSpec, FlagSpecs, FlagValues } from '../src/config/config-flags.ts';

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
      const nearest = nearestName(flag.split('=')[0], known);
      throw new FlagError(flag, `unknown flag${nearest ? `; did you mean ${nearest}?` : ''} (--help lists them)`);
    }
    throw new FlagError(flag, message.split('\n')[0]);
  }
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

/**
 * A command's result: the human text on stdout; with --json, the JSON object as the last stdout line and the human text on
 * stderr (so a script reading stdout gets only the JSON, and a person watching still sees the result).
 */
export function report(json: boolean | string | undefined, result: unknown, human: string): void {
  const text = human && !human.endsWith('\n') ? `${human}\n` : human;
  if (json) {
    if (text) process.stderr.write(text);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else if (text) process.stdout.write(text);
}
