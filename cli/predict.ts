// `streamfit predict --model runs/<name>/model <folder|manifest|tar>`: class probabilities for every image.

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
import { imageFolderSource } from '../stages/source-folder.ts';
import { aliasedFlag, intFlag, parseFlags, report } from './args.ts';

export async function predictCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, {
    model: { type: 'string' },
    'batch-size': { type: 'string' },
    batch: { type: 'string' },
    top: { type: 'string' },
    backend: { type: 'string' },
  });
  if (!values.model) throw new FlagError('--model', 'predict needs --model <run folder>/model');
  const path = positionals[0];
  if (!path) throw new FlagError('<images>', 'predict needs a folder, manifest or tar pattern');
  const batchSize = intFlag(aliasedFlag(values, 'batch-size', 'batch'), '--batch-size', 16);
  const top = intFlag(values.top, '--top', 3);
  await selectBackend(requestedBackend(values.backend, process.env));
  const saved = await loadSavedModel(values.model);
  // A plain folder is read as unlabeled images, at any depth; manifests and shards as in training.
  const dataset = existsSync(path) && statSync(path).isDirectory() ? imageFolderSource(path) : await source(path);
  const quarantine = new Quarantine();
  const predictions: Array<{ path: string; label: string; probability: number; top: Array<{ label: string; probability: number }> }> = [];
  const origins = new Map<string, string>();
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
        path: origins.get(batch.keys[i]) ?? batch.keys[i],
        label: ranked[0].label,
        probability: ranked[0].probability,
        top: ranked.slice(0, top),
      });
    });
    batch.release?.();
  }
  saved.model.dispose();
  const lines = predictions.map((p) => `${p.path}\t${p.label}\t${p.probability.toFixed(4)}`);
  lines.push(...quarantine.entries.map((entry) => `quarantined ${entry.path}: ${entry.reason}`));
  report(values.json, { model: values.model, count: predictions.length, predictions, quarantined: quarantine.entries }, lines.join('\n'));
}
