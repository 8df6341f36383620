// Head-only runs on cached backbone features: what `train` does for a frozen backbone when `featureCache` is on.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../config/train-config.ts';
import type { DatasetSource } from '../data/dataset-source.ts';
import { evaluationPreprocessing } from '../data/preprocessing.ts';
import type { Batch } from '../data/samples.ts';
import type { Subset } from '../data/split-key.ts';
import { createModel } from '../models/create-model.ts';
import { FineTuneDropout } from '../models/layers.ts';
import type { Quarantine, QuarantineEntry } from '../stream/quarantine.ts';
import { flow, type StageContext } from '../stream/stage.ts';
import {
  extractFeatures,
  type FeatureSet,
  featureBatches,
  featureCacheKey,
  readFeatureSet,
  writeFeatureSets,
} from '../sweep/feature-cache.ts';
import type { RunSpec } from './run.ts';
import { trainerStage } from './train-stage.ts';

/** Batches of one side of the split under the evaluation preprocessing (the pipeline's `evaluate`). */
export type EvaluationBatches = (subset: Subset, context: StageContext) => AsyncIterable<Batch>;

/** A frozen backbone with nothing to fine-tune afterwards: the only runs whose head can learn from cached features. */
export function canUseFeatureCache(config: TrainConfig): boolean {
  return config.featureCache && Boolean(config.weights) && config.fineTuneEpochs === 0;
}

async function loadOrExtract(
  config: TrainConfig,
  dataset: DatasetSource,
  trainSamples: number,
  quarantine: Quarantine,
  log: (text: string) => void,
  evaluationBatches: EvaluationBatches,
) {
  const key = featureCacheKey(
    {
      model: config.model,
      weights: resolve(config.weights!),
      preprocessing: evaluationPreprocessing(config),
      data: dataset.description,
      validation: config.validation,
      seed: config.seed,
    },
    `${dataset.classes.names.join('|')}:${trainSamples}`,
  );
  const folder = join(dirname(resolve(config.out)), '.feature-cache', key);
  const cached = { train: readFeatureSet(folder, 'train'), validation: readFeatureSet(folder, 'validation') };
  if (cached.train && cached.validation) {
    log(`feature cache hit: ${folder}`);
    // The files the extraction quarantined are this run's too: the features hold none of them.
    for (const entry of readCachedQuarantine(folder)) quarantine.record(entry.path, entry.reason);
    return { sets: cached as { train: FeatureSet; validation: FeatureSet }, hit: true };
  }
  log(`feature cache miss: running the backbone over the dataset once (${folder})`);
  const { model } = await createModel(config.model, {
    classes: dataset.classes.names.length,
    imageSize: config.imageSize,
    weights: config.weights,
    freeze: 'all',
    cutAt: config.cutAt,
  });
  const backbone = tf.model({ inputs: model.inputs, outputs: model.getLayer('predictions').input as tf.SymbolicTensor });
  const sets = {
    train: await extractFeatures(backbone, evaluationBatches('train', { epoch: 0, quarantine })),
    validation: await extractFeatures(backbone, evaluationBatches('validation', { epoch: 0, quarantine })),
  };
  model.dispose();
  writeFeatureSets(folder, sets);
  writeFileSync(join(folder, 'quarantine.json'), JSON.stringify(quarantine.entries));
  return { sets, hit: false };
}

function readCachedQuarantine(folder: string): QuarantineEntry[] {
  try {
    return JSON.parse(readFileSync(join(folder, 'quarantine.json'), 'utf8')) as QuarantineEntry[];
  } catch {
    return []; // a cache written before quarantine.json was: nothing known
  }
}

/** The parts of a run spec that differ for a head trained on cached features. */
export async function cachedHeadSpec(
  config: TrainConfig,
  dataset: DatasetSource,
  trainSamples: number,
  quarantine: Quarantine,
  log: (text: string) => void,
  evaluationBatches: EvaluationBatches,
): Promise<Pick<RunSpec, 'createModel' | 'blocks' | 'trainSteps' | 'validationBatches' | 'finalizeModel' | 'summaryExtra'>> {
  const { sets, hit } = await loadOrExtract(config, dataset, trainSamples, quarantine, log, evaluationBatches);
  const classes = dataset.classes.names.length;
  return {
    createModel: async () => {
      const input = tf.input({ shape: [1, 1, sets.train.width], name: 'features' });
      let x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(input) as tf.SymbolicTensor;
      if (config.dropout > 0) x = new FineTuneDropout({ rate: config.dropout, name: 'top_dropout' }).apply(x) as tf.SymbolicTensor;
      const output = tf.layers.dense({ units: classes, activation: 'softmax', name: 'predictions' }).apply(x) as tf.SymbolicTensor;
      return { model: tf.model({ inputs: input, outputs: output, name: 'cached_head' }), blocks: [], expectsRawPixels: false };
    },
    blocks: () => [],
    trainSteps: (epoch, trainer, skip) =>
      flow(() => featureBatches(sets.train, config.microBatch, config.seed * 100_003 + epoch), { epoch, quarantine }).pipe(
        trainerStage({ trainer, skip }),
      ),
    validationBatches: () => featureBatches(sets.validation, config.microBatch),
    // The saved model is the whole classifier: the backbone with the head's trained weights.
    finalizeModel: async (head) => {
      const { model } = await createModel(config.model, {
        classes,
        imageSize: config.imageSize,
        weights: config.weights,
        freeze: 'all',
        dropout: config.dropout,
        cutAt: config.cutAt,
      });
      model.getLayer('predictions').setWeights(head.getLayer('predictions').getWeights());
      return model;
    },
    summaryExtra: { featureCache: hit ? 'hit' : 'miss' },
  };
}
