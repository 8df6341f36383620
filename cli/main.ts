// The `streamfit` command: dispatches to one module per command, answers --help and --version, and turns errors into one
// line and a non-zero exit. bin/streamfit.js calls main().

import { createRequire } from 'node:module';
import { nearestName } from '../src/config/config-flags.ts';
import { StreamfitError } from '../src/errors.ts';
import { commandHelp, type commands as helpTopics, mainHelp } from './help.ts';

/** One loader a command; tsc refuses a command without help (cli/help.ts) or help without a command. */
const commands: Record<keyof typeof helpTopics, () => Promise<(argv: string[]) => Promise<void>>> = {
  inspect: async () => (await import('./inspect.ts')).inspectCommand,
  bench: async () => (await import('./bench.ts')).benchCommand,
  models: async () => (await import('./models.ts')).modelsCommand,
  train: async () => (await import('./train.ts')).trainCommand,
  predict: async () => (await import('./predict.ts')).predictCommand,
  plan: async () => (await import('./plan.ts')).planCommand,
  sweep: async () => (await import('./sweep.ts')).sweepCommand,
  weights: async () => (await import('./weights.ts')).weightsCommand,
  evaluate: async () => (await import('./evaluate.ts')).evaluateCommand,
  backends: async () => (await import('./backends.ts')).backendsCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    process.stdout.write(`streamfit ${version()}\n`);
    return 0;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    process.stdout.write(`${topic && isCommand(topic) ? commandHelp(topic) : mainHelp()}\n`);
    return 0;
  }
  if (!name) {
    process.stderr.write(`${mainHelp()}\n`);
    return 1;
  }
  if (!isCommand(name)) {
    const nearest = nearestName(name, Object.keys(commands));
    process.stderr.write(
      `streamfit: unknown command '${name}'${nearest ? `; did you mean '${nearest}'?` : ''} (streamfit --help lists them)\n`,
    );
    return 1;
  }
  // Help is asked for before any other flag is read, so `train --help` works whatever else the line holds.
  const flagsOnly = rest.slice(0, rest.includes('--') ? rest.indexOf('--') : rest.length);
  if (flagsOnly.includes('--help') || flagsOnly.includes('-h')) {
    process.stdout.write(`${commandHelp(name)}\n`);
    return 0;
  }
  try {
    await (await commands[name]())(rest);
    return typeof process.exitCode === 'number' ? process.exitCode : 0; // a command may set its own (130 after SIGINT)
  } catch (error) {
    // One line, always: a rethrown error would reach tfjs-wasm's uncaught-exception hook, which prints its whole source.
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    process.stderr.write(`streamfit: ${error instanceof StreamfitError ? '' : 'error: '}${message}\n`);
    if (process.env.STREAMFIT_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

function isCommand(name: string): name is keyof typeof commands {
  return Object.hasOwn(commands, name);
}

function version(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}
