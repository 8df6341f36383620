// The `streamfit` command: dispatches to one module per command and turns errors into one line and a non-zero exit.

import { StreamfitError } from '../src/errors.ts';

const commands: Record<string, () => Promise<(argv: string[]) => Promise<void>>> = {
  inspect: async () => (await import('./inspect.ts')).inspectCommand,
  bench: async () => (await import('./bench.ts')).benchCommand,
  models: async () => (await import('./models.ts')).modelsCommand,
};

const usage = `usage: streamfit <command> [flags] [--json]
commands:
  inspect <folder|manifest|tar pattern> [--image-size N]   decode every image, report classes and quarantined files
  models                                                   list the EfficientNet variants
  bench pipeline [--images N]                              data pipeline throughput and memory against sharp alone`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === 'help') {
    process.stderr.write(usage + '\n');
    return name ? 0 : 1;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`streamfit: unknown command '${name}'\n${usage}\n`);
    return 1;
  }
  try {
    await (await load())(rest);
    return 0;
  } catch (error) {
    if (error instanceof StreamfitError) {
      process.stderr.write(`streamfit: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
