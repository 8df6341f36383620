// The default run (`make train`): the whole stage chain on the bundled fixtures, EfficientNet-B0 at 64 px, trained from scratch.
// Every knob is a config field, so other pipelines (sweep, efficientnet-b7-8gb) are this chain with other config.

import { evaluationPreprocessing } from '../src/data/preprocessing.ts';
import { flow } from '../src/stream/stage.ts';
import { definePipeline } from '../src/train/pipeline-definition.ts';
import { augment, augmentationOf } from '../stages/augment.ts';
import { batch } from '../stages/batch.ts';
import { decode } from '../stages/decode.ts';
import { fp16Cast } from '../stages/fp16-cast.ts';
import { normalize } from '../stages/normalize.ts';
import { prefetch } from '../stages/prefetch.ts';
import { preprocess } from '../stages/preprocess.ts';
import { render } from '../stages/render.ts';
import { resize } from '../stages/resize.ts';
import { shuffle } from '../stages/shuffle.ts';
import { split } from '../stages/split.ts';

export const pipeline = definePipeline({
  config: {
    name: 'default',
    data: 'fixtures/generated/shapes',
    model: 'efficientnet-b0',
    imageSize: 64,
    epochs: 10,
    batchNormMomentum: 0.9, // from scratch, a short run: moving statistics must settle within a few hundred steps
    batchSize: 16, // samples per optimizer update; microBatch defaults to it (no accumulation)
    optimizer: 'adam',
    lr: 2e-3,
    schedule: 'cosine',
    warmupEpochs: 1,
    earlyStopping: { metric: 'valAccuracy', patience: 4, minDelta: 0.001 },
    topK: 2,
    checkpointEverySteps: 10,
  },

  train: (dataset, config, context) =>
    flow(dataset, context)
      .pipe(split({ subset: 'train', validation: config.validation, seed: config.seed }))
      .pipe(shuffle({ bufferSize: config.shuffleBuffer, seed: config.seed })) // encoded samples (paths or tar bytes): small
      .pipe(decode())
      .pipe(resize({ size: config.imageSize }))
      .pipe(augment({ seed: config.seed, ...augmentationOf(config.augmentStrength, config.minimumCropScale) }))
      .pipe(render())
      .pipe(normalize({ preset: config.normalize })) // 'none' for EfficientNet: it scales and normalizes inside, as in Keras
      .pipe(fp16Cast())
      .pipe(batch({ size: config.microBatch, dropLast: true }))
      .pipe(prefetch({ maxBytes: config.queueBytes })),

  // The one evaluation chain (stored in the saved model, so predict and evaluate repeat it): validation and the feature cache.
  evaluate: (dataset, config, context, subset) =>
    flow(dataset, context)
      .pipe(split({ subset, validation: config.validation, seed: config.seed }))
      .pipe(preprocess(evaluationPreprocessing(config), { batchSize: config.microBatch, maxBytes: config.queueBytes })),
});
