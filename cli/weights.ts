// `streamfit weights import <keras.h5> --model efficientnet-b7 --out weights/b7`: Keras weights → tfjs layers format for --weights.

import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { FlagError } from '../src/errors.ts';
import { buildEfficientNet } from '../src/models/efficientnet.ts';
import { readKerasWeights } from '../src/models/keras-h5.ts';
import { findVariant } from '../src/models/variants.ts';
import { assignWeights, saveModel } from '../src/models/weights-io.ts';
import { parseFlags, report } from './args.ts';

export async function weightsCommand(argv: string[]): Promise<void> {
  const [verb, ...rest] = argv;
  if (verb !== 'import') throw new FlagError('<verb>', `expected 'import', got '${verb ?? ''}'`);
  const { values, positionals } = parseFlags(rest, { model: { type: 'string' }, out: { type: 'string' } });
  const file = positionals[0];
  if (!file) throw new FlagError('<file.h5>', 'weights import needs a Keras .h5 weights file');
  const variant = findVariant(values.model ?? '');
  if (!variant)
    throw new FlagError('--model', `expected an EfficientNet variant (efficientnet-b0 … efficientnet-b7), got '${values.model ?? ''}'`);
  if (!values.out) throw new FlagError('--out', 'weights import needs --out <folder> for the tfjs layers model');
  await selectBackend('cpu');
  const { tensors, squaredNormalization } = await readKerasWeights(resolve(file));
  const predictions = tensors['predictions/kernel'];
  // The top is kept when the file has one, so the imported model still predicts ImageNet classes.
  const model = buildEfficientNet(variant, { includeTop: Boolean(predictions), classes: predictions?.shape[1] });
  try {
    assignWeights(model, tensors, resolve(file));
    await saveModel(model, values.out);
  } finally {
    tf.dispose(Object.values(tensors));
  }
  const result = {
    out: resolve(values.out),
    model: variant.name,
    includeTop: Boolean(predictions),
    weights: model.weights.length,
    squaredNormalization,
  };
  model.dispose();
  report(
    values.json,
    result,
    `imported ${result.weights} weights into ${result.model}${result.includeTop ? ' (with its top)' : ''}: ${result.out}${squaredNormalization ? '\n(normalization variance stored as standard deviations, Keras ≥ 2.10: squared)' : ''}`,
  );
}
