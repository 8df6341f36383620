// Runs the `streamfit` command in this process (cli/main.ts), capturing what it writes as results (stdout) and logs
// (stderr): cheaper than a child process for commands that do not train. (process.stdout itself is left alone: the test
// runner reports through it.)

import { terminal } from '../../cli/args.ts';
import { main } from '../../cli/main.ts';

export interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[]): Promise<CliOutcome> {
  const saved = { ...terminal };
  const captured = { stdout: '', stderr: '' };
  terminal.out = (text) => {
    captured.stdout += text;
  };
  terminal.err = (text) => {
    captured.stderr += text;
  };
  process.exitCode = undefined;
  try {
    const code = await main(args);
    return { code, ...captured };
  } finally {
    Object.assign(terminal, saved);
    process.exitCode = undefined;
  }
}

/** The last stdout line, parsed: where --json puts its result. */
export function lastJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').pop()!);
}
