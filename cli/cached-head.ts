// Head-only runs on cached backbone features: what `train` does for a frozen backbone when `featureCache` is on.

import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../src/config/train-config.ts';
import type { DatasetSource } from '../src/data/dataset-source.ts';
import type { Batch } from '../src/data/samples.ts';
import { createModel } from '../src/models/create-model.ts';
import { FineTuneDropout } from '../src/models/layers.ts';
import { Quarantine } from '../src/stream/quarantine.ts';
import { flow, type StageContext } from '../src/stream/stage.ts';
import {
  extractFeatures,
  type FeatureSet,
  featureBatches,
  featureCacheKey,
  readFeatureSet,
  writeFeatureSets,
} from '../src/sweep/feature-cache.ts';
import type { RunSpec } from '../src/train/run.ts';
import { batch } from '../stages/batch.ts';
import { decode } from '../stages/decode.ts';
import { normalize } from '../stages/normalize.ts';
import { prefetch } from '../stages/prefetch.ts';
import { render } from '../stages/render.ts';
import { resize } from '../stages/resize.ts';
import { split } from '../stages/split.ts';
import { train } from '../stages/train.ts';

/** A frozen backbone with nothing to fine-tune afterwards: the only runs whose head can learn from cached features. */
export function canUseFeatureCache(config: TrainConfig): boolean {
  return config.featureCache && Boolean(config.weights) && config.fineTuneEpochs === 0;
}

function plainBatches(
  dataset: DatasetSource,
  config: TrainConfig,
  subset: 'train' | 'validation',
  context: StageContext,
): AsyncIterable<Batch> {
  return flow(dataset, context)
    .pipe(split({ subset, validation: config.validation, seed: config.seed }))
    .pipe(decode())
    .pipe(resize({ size: config.imageSize }))
    .pipe(render())
    .pipe(normalize({ preset: config.normalize }))
    .pipe(batch({ size: config.microBatch }))
    .pipe(prefetch({ maxBytes: config.queueBytes }));
}

async function loadOrExtract(
  config: TrainConfig,
  dataset: DatasetSource,
  trainSamples: number,
  quarantine: Quarantine,
  log: (text: string) => void,
) {
  const key = featureCacheKey(
    {
      model: config.model,
      weights: resolve(config.weights!),
      imageSize: config.imageSize,
      normalize: config.normalize,
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
    train: await extractFeatures(backbone, plainBatches(dataset, config, 'train', { epoch: 0, quarantine })),
    validation: await extractFeatures(backbone, plainBatches(dataset, config, 'validation', { epoch: 0, quarantine: new Quarantine() })),
  };
  model.dispose();
  writeFeatureSets(folder, sets);
  return { sets, hit: false };
}

/** The parts of a run spec that differ for a head trained on cached features. */
export async function cachedHeadSpec(
  config: TrainConfig,
  dataset: DatasetSource,
  trainSamples: number,
  quarantine: Quarantine,
  log: (text: string) => void,
): Promise<Pick<RunSpec, 'createModel' | 'blocks' | 'trainSteps' | 'validationBatches' | 'finalizeModel' | 'summaryExtra'>> {
  const { sets, hit } = await loadOrExtract(config, dataset, trainSamples, quarantine, log);
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
        train({ trainer, skip }),
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
