// EfficientNet-B7 at 600 px on an 8 GB GPU: the default chain with other config. The memory planner picks the micro-batch and
// recomputation for a batch size of 32; augmentation crops down to 8 % of the image; head first, then the top 20 blocks at
// a tenth of the rate.
// Run it: streamfit train --config pipelines/efficientnet-b7-8gb.ts --data <folder|tar> --weights <B7 in tfjs layers format>

import { definePipeline } from '../src/train/pipeline-definition.ts';
import { pipeline as base } from './default.ts';

export const pipeline = definePipeline({
  ...base,
  // Not base.config: the fixtures' settings (64 px, batch-norm momentum, checkpoint rate) are not B7's.
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
    minimumCropScale: 0.08, // ImageNet's random resized crop
    shuffleBuffer: 10_000, // shuffles encoded samples (paths or tar bytes), before decoding
    queueBytes: 512 * 2 ** 20, // 600 px binary16 samples are 2.1 MB: a queue of 512 MiB holds about 240
    checkpointEverySteps: 100,
  },
});
