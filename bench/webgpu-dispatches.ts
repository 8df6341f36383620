// Benchmark: what one EfficientNet training step asks of the webgpu device (dispatches, submits, buffers) and the host
// time it takes, counted over warm steps through streamfit's Trainer; the programs that dominate the count are listed.

import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { countDispatches } from '../src/backend/webgpu-dispatch-count.ts';
import { createModel } from '../src/models/create-model.ts';
import { Trainer } from '../src/train/trainer.ts';
import { syntheticBatch } from './train.ts';

const [model = 'efficientnet-b0', size = '64', batchSize = '4', steps = '2'] = process.argv.slice(2);
await selectBackend('webgpu');
const { model: network } = await createModel(model, { classes: 10, imageSize: Number(size), freeze: 'none' });
const trainer = new Trainer({ model: network, optimizer: { name: 'adam', lr: 1e-3 }, accumulate: 1 });
const batch = syntheticBatch(Number(batchSize), Number(size), 10);
await trainer.step(batch);
await trainer.step(batch);
const start = performance.now();
const cpu = process.cpuUsage();
const { counts } = await countDispatches(async () => {
  for (let step = 0; step < Number(steps); step++) await trainer.step(batch);
});
const used = process.cpuUsage(cpu);
const per = (value: number) => Number((value / Number(steps)).toFixed(1));
process.stdout.write(
  `${JSON.stringify(
    {
      model,
      imageSize: Number(size),
      batchSize: Number(batchSize),
      steps: Number(steps),
      msPerStep: per(performance.now() - start),
      cpuMsPerStep: per((used.user + used.system) / 1000),
      dispatchesPerStep: per(counts.dispatches),
      submitsPerStep: per(counts.submits),
      computePassesPerStep: per(counts.computePasses),
      buffersCreatedPerStep: per(counts.buffersCreated),
      uniformBuffersPerStep: per(counts.uniformBuffers),
      byProgram: Object.fromEntries(Object.entries(counts.byProgram).map(([name, count]) => [name, per(count)])),
      numTensors: tf.memory().numTensors,
    },
    null,
    1,
  )}\n`,
);
trainer.dispose();
network.dispose();
