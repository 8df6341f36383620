// Runs the `streamfit` command as a user does (bin/streamfit.js in a child process) and returns its exit code and output,
// whether it succeeded or not.

import { execFile } from 'node:child_process';
import { join } from 'node:path';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'streamfit.js');

export interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

export function streamfit(args: string[], options: { cwd?: string } = {}): Promise<CliOutcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: options.cwd, maxBuffer: 2 ** 24 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The last stdout line, parsed: where --json puts its result. */
export function lastJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').pop()!);
}
