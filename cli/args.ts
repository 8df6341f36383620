// Flag parsing on node:util parseArgs, turning its errors into FlagError, plus the JSON/human output convention.

import { type ParseArgsConfig, parseArgs } from 'node:util';
import { FlagError } from '../src/errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<T extends Options>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options: { ...options, json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message;
    const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? 'flag';
    if (/argument is ambiguous/.test(message))
      throw new FlagError(flag, `a value that starts with '-' must be joined to its flag: ${flag}=<value>`);
    throw new FlagError(flag, message.split('\n')[0]);
  }
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

/** Human text goes to stderr; with --json the result is one JSON line on stdout. */
export function report(json: boolean | undefined, result: unknown, human: string): void {
  if (human) process.stderr.write(human.endsWith('\n') ? human : `${human}\n`);
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
}
