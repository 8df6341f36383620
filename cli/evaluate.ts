// `streamfit evaluate --model runs/<name>/model <labelled dataset>`: loss, accuracy, top-k, per-class accuracy and the confusion matrix.

import { requestedBackend, selectBackend } from '../src/backend/ladder.ts';
import type { Batch } from '../src/data/samples.ts';
import { DataError, FlagError } from '../src/errors.ts';
import { Quarantine } from '../src/stream/quarantine.ts';
import { flow } from '../src/stream/stage.ts';
import { evaluateModel } from '../src/train/evaluate.ts';
import { loadSavedModel } from '../src/train/saved-model.ts';
import { preprocess } from '../stages/preprocess.ts';
import { source } from '../stages/source.ts';
import { aliasedFlag, intFlag, parseFlags, report } from './args.ts';
import { evaluateFlags } from './flags.ts';

export async function evaluateCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, evaluateFlags);
  if (!values.model) throw new FlagError('--model', 'evaluate needs --model <run folder>/model');
  const path = positionals[0];
  if (!path) throw new FlagError('<dataset>', 'evaluate needs a labelled folder, manifest or tar pattern');
  if (positionals.length > 1)
    throw new FlagError('<dataset>', `evaluate takes one dataset, got ${positionals.length}: ${positionals.join(' ')}`);
  const k = intFlag(values['top-k'], '--top-k', 5);
  const batchSize = intFlag(aliasedFlag(values, 'batch-size', 'batch'), '--batch-size', 16);
  await selectBackend(requestedBackend(values.backend, process.env));
  const saved = await loadSavedModel(values.model);
  const dataset = await source(path, { classes: undefined });
  // The held-out set's classes are matched to the model's by name.
  const toModelIndex = dataset.classes.names.map((name) => {
    const index = saved.classes.indexOf(name);
    if (index < 0) throw new DataError(dataset.description, `class '${name}' is not one the model knows (${saved.classes.join(', ')})`);
    return index;
  });
  const quarantine = new Quarantine();
  const batches = flow(dataset, { epoch: 0, quarantine }).pipe(preprocess(saved.preprocessing, { batchSize }));
  const remapped = (async function* (): AsyncGenerator<Batch> {
    for await (const batch of batches) yield { ...batch, y: batch.y.map((index) => toModelIndex[index]) };
  })();
  const evaluation = await evaluateModel(saved.model, remapped, saved.classes.length, k);
  saved.model.dispose();
  // Top-k with k at least the number of classes is 100 % whatever the model does: not worth a number.
  const topK = k < saved.classes.length ? evaluation.topK : null;
  const result = {
    model: values.model,
    dataset: dataset.description,
    ...evaluation,
    topK,
    classes: saved.classes,
    quarantined: quarantine.entries,
  };
  const width = Math.max(...saved.classes.map((name) => name.length));
  const lines = [
    `${evaluation.count} images: accuracy ${percent(evaluation.accuracy)}${topK === null ? '' : `, top-${k} ${percent(topK)}`}, loss ${evaluation.loss.toFixed(4)}; ${quarantine.count} file${quarantine.count === 1 ? '' : 's'} quarantined`,
    ...saved.classes.map((name, index) => `  ${name.padEnd(width)}  ${percent(evaluation.perClassAccuracy[index])}`),
    ...quarantine.entries.map((entry) => `  quarantined ${entry.path}: ${entry.reason}`),
  ];
  if (evaluation.count === 0) throw new DataError(dataset.description, `no image could be evaluated (${quarantine.count} quarantined)`);
  report(values.json, result, lines.join('\n'));
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}
