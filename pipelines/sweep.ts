// `make sweep`: a small random search over learning rate, optimizer and label smoothing on the fixtures, pruned by
// successive halving. The stage chain is the default pipeline's; only the config and the search space differ.

import { definePipeline } from '../src/train/pipeline-definition.ts';
import { pipeline as base } from './default.ts';

export const space = {
  method: 'random',
  metric: 'valAccuracy',
  parameters: {
    lr: { logUniform: [3e-4, 3e-3] },
    optimizer: { choice: ['adam', 'adamw', 'rmsprop'] },
    labelSmoothing: { choice: [0, 0.1] },
  },
} as const;

export const pipeline = definePipeline({
  ...base,
  config: { ...base.config, name: 'sweep', epochs: 4, checkpointEverySteps: 1000 },
});
