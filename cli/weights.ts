// `streamfit weights import <keras.h5> --model efficientnet-b7 --out weights/b7`: Keras weights → tfjs layers format for --weights.

import { selectBackend } from '../src/backend/ladder.ts';
import { FlagError } from '../src/errors.ts';
import { importKerasWeights } from '../src/models/keras-import.ts';
import { modelNames } from '../src/models/registry.ts';
import { parseFlags, report } from './args.ts';
import { weightsFlags } from './flags.ts';

export async function weightsCommand(argv: string[]): Promise<void> {
  const [verb, ...rest] = argv;
  if (verb !== 'import') throw new FlagError('<verb>', `expected 'import', got '${verb ?? ''}'`);
  const { values, positionals } = parseFlags(rest, weightsFlags);
  const file = positionals[0];
  if (!file) throw new FlagError('<file.h5>', 'weights import needs a Keras .h5 weights file');
  if (!values.model) throw new FlagError('--model', `expected one of ${modelNames.join(', ')}`);
  if (!values.out) throw new FlagError('--out', 'weights import needs --out <folder> for the tfjs layers model');
  await selectBackend('cpu');
  const result = await importKerasWeights(file, values.model, values.out);
  report(
    values.json,
    result,
    `imported ${result.weights} weights into ${result.model}${result.includeTop ? ' (with its top)' : ''}: ${result.out}${result.squaredNormalization ? '\n(normalization variance stored as standard deviations, Keras ≥ 2.10: squared)' : ''}${result.renumberedLayers ? `\n(${result.renumberedLayers} automatically named layers numbered from another Keras session: matched in order of creation)` : ''}`,
  );
}
