// `streamfit predict --model runs/<name>/model <image|folder|manifest|tar>…`: class probabilities for every image.

import { existsSync, statSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { requestedBackend, selectBackend } from '../src/backend/ladder.ts';
import { FlagError } from '../src/errors.ts';
import { Quarantine } from '../src/stream/quarantine.ts';
import { flow } from '../src/stream/stage.ts';
import { batchTensors } from '../src/train/batch-tensor.ts';
import { loadSavedModel } from '../src/train/saved-model.ts';
import { preprocess } from '../stages/preprocess.ts';
import { source } from '../stages/source.ts';
import { imagesSource } from '../stages/source-folder.ts';
import { aliasedFlag, intFlag, parseFlags, report } from './args.ts';
import { predictFlags } from './flags.ts';

export async function predictCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, predictFlags);
  if (!values.model) throw new FlagError('--model', 'predict needs --model <run folder>/model');
  if (positionals.length === 0) throw new FlagError('<images>', 'predict needs image files, a folder, a manifest or a tar pattern');
  const batchSize = intFlag(aliasedFlag(values, 'batch-size', 'batch'), '--batch-size', 16);
  const top = intFlag(values.top, '--top', 3);
  await selectBackend(requestedBackend(values.backend, process.env));
  const saved = await loadSavedModel(values.model);
  // Image files and folders are read as unlabelled images (folders at any depth); a manifest or shards as in training.
  const dataset = positionals.length === 1 && !isImageOrFolder(positionals[0]) ? await source(positionals[0]) : imagesSource(positionals);
  const quarantine = new Quarantine();
  const predictions: Array<{ path: string; label: string; probability: number; top: Array<{ label: string; probability: number }> }> = [];
  const batches = flow(dataset, { epoch: 0, quarantine }).pipe(preprocess(saved.preprocessing, { batchSize }));
  for await (const batch of batches) {
    const output = tf.tidy(() => saved.model.predict(batchTensors(batch).x) as tf.Tensor);
    const probabilities = (await output.array()) as number[][];
    output.dispose();
    probabilities.forEach((row, i) => {
      const ranked = row
        .map((probability, index) => ({ label: saved.classes[index], probability }))
        .sort((a, b) => b.probability - a.probability);
      predictions.push({
        path: batch.keys[i],
        label: ranked[0].label,
        probability: ranked[0].probability,
        top: ranked.slice(0, top),
      });
    });
    batch.release?.();
  }
  saved.model.dispose();
  // One line an image: its path, then its top classes with their probabilities, best first.
  const lines = predictions.map((p) => [p.path, ...p.top.map((entry) => `${entry.label} ${entry.probability.toFixed(4)}`)].join('\t'));
  if (quarantine.count > 0)
    process.stderr.write(`${quarantine.entries.map((entry) => `quarantined ${entry.path}: ${entry.reason}`).join('\n')}\n`);
  report(values.json, { model: values.model, count: predictions.length, predictions, quarantined: quarantine.entries }, lines.join('\n'));
}

function isImageOrFolder(path: string): boolean {
  if (/\.(csv|jsonl?|tar|tar\.gz|tgz)$/i.test(path)) return false;
  return !existsSync(path) || statSync(path).isDirectory() || statSync(path).isFile();
}
