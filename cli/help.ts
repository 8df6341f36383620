// `streamfit --help` and `streamfit <command> --help`: rendered from the flag tables the commands parse (cli/flags.ts), so
// every flag a command accepts is listed, and the run flags follow the config schema.

import { configFields } from '../src/config/config-fields.ts';
import { commonFlags, type FlagSpecs } from './args.ts';
import {
  backendsFlags,
  benchCacheFlags,
  benchKernelsFlags,
  benchPipelineFlags,
  benchTrainFlags,
  evaluateFlags,
  inspectFlags,
  modelsFlags,
  planFlags,
  predictFlags,
  sweepFlags,
  trainFlags,
  weightsFlags,
} from './flags.ts';

interface CommandHelp {
  usage: string;
  summary: string;
  /** Flag tables, each under an optional heading. */
  sections: Array<{ heading?: string; flags: FlagSpecs }>;
  notes?: string;
}

// Generated from the schema, like the flags, so a new file-only field cannot be missing here.
const fileOnlyNote = `Fields without a flag (${configFields()
  .filter((field) => !field.flag)
  .map((field) => field.field)
  .join(', ')}) are set in the pipeline file or an --overrides JSON; every flag is also a field there.`;

export const commands = {
  inspect: {
    usage: 'streamfit inspect <folder|manifest|tar pattern> [flags]',
    summary: 'Decodes every image (source → decode → resize → render) and reports classes and quarantined files.',
    sections: [{ flags: inspectFlags }],
  },
  train: {
    usage: 'streamfit train [<data>] [flags]',
    summary:
      'Trains a classifier into a run folder (config.json, metrics.jsonl, quarantine.jsonl, checkpoints/, model/, report.html).\nA positional <data> is the same as --data.',
    sections: [{ flags: trainFlags }],
    notes: fileOnlyNote,
  },
  sweep: {
    usage: 'streamfit sweep [flags]',
    summary:
      "Trains the trials of a search space (the pipeline file's `space`), each in its own run folder, with successive halving.\nThe run flags are shared by every trial (default pipeline pipelines/sweep.ts).",
    sections: [{ flags: sweepFlags }],
    notes: fileOnlyNote,
  },
  predict: {
    usage: 'streamfit predict --model runs/NAME/model <image|folder|manifest|tar pattern> [flags]',
    summary: 'Class probabilities for every image, with the preprocessing stored in the model.',
    sections: [{ flags: predictFlags }],
  },
  evaluate: {
    usage: 'streamfit evaluate --model runs/NAME/model <labelled folder|manifest|tar pattern> [flags]',
    summary: 'Loss, accuracy, top-k, per-class accuracy and the confusion matrix, with the preprocessing stored in the model.',
    sections: [{ flags: evaluateFlags }],
  },
  plan: {
    usage: 'streamfit plan --memory SIZE [flags]',
    summary:
      'The micro-batch (a divisor of the batch size) and recomputation that fit a device memory budget, from the built model.\nExits 1 when even micro-batch 1 with recomputation does not fit.',
    sections: [{ flags: planFlags }],
  },
  models: {
    usage: 'streamfit models [flags]',
    summary: 'The built-in models with their family, resolution, parameter count and blocks.',
    sections: [{ flags: modelsFlags }],
  },
  backends: {
    usage: 'streamfit backends [flags]',
    summary: 'The backend ladder: every rung, whether it can start here and why not, and the WebGPU adapter.',
    sections: [{ flags: backendsFlags }],
  },
  weights: {
    usage: 'streamfit weights import <keras.h5> --model NAME --out FOLDER [flags]',
    summary: 'Keras .h5 weights → a tfjs layers model for --weights.',
    sections: [{ flags: weightsFlags }],
  },
  bench: {
    usage: 'streamfit bench pipeline|train|kernels|cache [flags]',
    summary: 'Benchmarks that print JSON with their baseline measured in the same run.',
    sections: [
      { heading: 'bench pipeline', flags: benchPipelineFlags },
      { heading: 'bench train', flags: benchTrainFlags },
      {
        heading: 'bench kernels (streamfit’s training kernels against those they replace: WGSL on webgpu, compiled SIMD on wasm)',
        flags: benchKernelsFlags,
      },
      { heading: 'bench cache', flags: benchCacheFlags },
    ],
  },
} satisfies Record<string, CommandHelp>;

/** One command's help: usage, summary, every flag it parses (and --json, --help). */
export function commandHelp(name: keyof typeof commands): string {
  const help: CommandHelp = commands[name];
  const lines = [`usage: ${help.usage}`, help.summary];
  for (const section of help.sections) {
    if (section.heading) lines.push(`${section.heading}:`);
    lines.push(...flagLines(section.flags, section.heading ? '    ' : '  '));
  }
  lines.push(...flagLines(commonFlags, '  '));
  if (help.notes) lines.push(help.notes);
  return lines.join('\n');
}

/** `streamfit --help`: the commands, one line each. */
export function mainHelp(): string {
  return [
    'usage: streamfit <command> [flags]',
    'commands:',
    ...Object.entries(commands).map(([name, help]) => `  ${name.padEnd(10)} ${help.summary.split('\n')[0]}`),
    'streamfit <command> --help lists every flag of a command; streamfit --version prints the version.',
  ].join('\n');
}

function flagLines(flags: FlagSpecs, indent: string): string[] {
  const entries = Object.entries(flags).filter(([, spec]) => !spec.hidden);
  const left = entries.map(([name, spec]) => `--${name}${spec.short ? `, -${spec.short}` : ''}${spec.value ? ` ${spec.value}` : ''}`);
  const width = Math.max(24, ...left.map((text) => text.length + 2));
  return entries.map(([, spec], i) => `${indent}${left[i].padEnd(width)}${spec.help ?? ''}`);
}
