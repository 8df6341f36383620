// EfficientNet-B7 at 600 px on an 8 GB GPU: the memory planner picks micro-batch, accumulation and recomputation for an
// batch size of 32; binary16 queue; augmentation; head first, then the top 20 blocks at a tenth of the rate.
// Run it: streamfit train --config pipelines/efficientnet-b7-8gb.ts --data <folder|tar> --weights <B7 in tfjs layers format>

import { flow } from '../src/stream/stage.ts';
import { definePipeline } from '../src/train/pipeline-definition.ts';
import { augment, augmentationOf } from '../stages/augment.ts';
import { batch } from '../stages/batch.ts';
import { decode } from '../stages/decode.ts';
import { fp16Cast } from '../stages/fp16-cast.ts';
import { normalize } from '../stages/normalize.ts';
import { prefetch } from '../stages/prefetch.ts';
import { render } from '../stages/render.ts';
import { resize } from '../stages/resize.ts';
import { shuffle } from '../stages/shuffle.ts';
import { split } from '../stages/split.ts';

export const pipeline = definePipeline({
  config: {
    name: 'efficientnet-b7-8gb',
    model: 'efficientnet-b7',
    imageSize: 600,
    batchSize: 32, // samples per optimizer update: the planner picks the micro-batch (a divisor) that fits 8 GiB
    planner: true,
    memory: '8GiB',
    optimizer: 'adamw',
    lr: 1e-3,
    weightDecay: 0.01,
    labelSmoothing: 0.1,
    epochs: 5, // phase 1: the head only, backbone frozen (BatchNorm in inference mode)
    fineTuneEpochs: 10, // phase 2: the top blocks too, at lr × fineTuneLrFactor
    fineTuneBlocks: 20,
    fineTuneLrFactor: 0.1,
    schedule: 'cosine',
    earlyStopping: { metric: 'valAccuracy', patience: 3, minDelta: 0.001 },
    queueBytes: 512 * 2 ** 20, // 600 px binary16 samples are 2.1 MB: a queue of 512 MiB holds about 240
    checkpointEverySteps: 100,
  },

  train: (dataset, config, context) =>
    flow(dataset, context)
      .pipe(split({ subset: 'train', validation: config.validation, seed: config.seed }))
      .pipe(shuffle({ bufferSize: 10_000, seed: config.seed })) // shuffles encoded samples (paths or tar bytes), before decoding
      .pipe(decode())
      .pipe(resize({ size: config.imageSize }))
      .pipe(augment({ seed: config.seed, ...augmentationOf(config.augmentStrength, 0.08) }))
      .pipe(render())
      .pipe(normalize({ preset: config.normalize }))
      .pipe(fp16Cast())
      .pipe(batch({ size: config.microBatch, dropLast: true }))
      .pipe(prefetch({ maxBytes: config.queueBytes })),

  evaluate: (dataset, config, context, subset) =>
    flow(dataset, context)
      .pipe(split({ subset, validation: config.validation, seed: config.seed }))
      .pipe(decode())
      .pipe(resize({ size: config.imageSize }))
      .pipe(render())
      .pipe(normalize({ preset: config.normalize }))
      .pipe(fp16Cast())
      .pipe(batch({ size: config.microBatch }))
      .pipe(prefetch({ maxBytes: config.queueBytes })),
});
