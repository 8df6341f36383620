// Benchmark: what one EfficientNet training step asks of the webgpu device (dispatches, submits, buffers) and the host
// time it takes, counted over warm steps through streamfit's Trainer; the programs that dominate the count are listed.
// With --profile, one more step runs under tf.profile: where the adapter has timestamp queries, every kernel's GPU time
// (each then gets its own pass and submit, so the step is slower than the counted ones); their sum is the step's GPU time
// with no host time in it, which says how much of msPerStep is the host's.

import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { countDispatches } from '../src/backend/webgpu-dispatch-count.ts';
import { createModel } from '../src/models/create-model.ts';
import { Trainer } from '../src/train/trainer.ts';
import { syntheticBatch } from './train.ts';

const profile = process.argv.includes('--profile');
const [model = 'efficientnet-b0', size = '64', batchSize = '4', steps = '2'] = process.argv.slice(2).filter((a) => a !== '--profile');
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
const gpuTime = profile ? await profileStep() : {};
const per = (value: number) => Number((value / Number(steps)).toFixed(1));
process.stdout.write(
  `${JSON.stringify({
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
    ...gpuTime,
  })}\n`,
);
trainer.dispose();
network.dispose();

/**
 * GPU milliseconds of one step by tfjs kernel (tf.profile, timestamp queries): the total and the 15 largest. Only
 * registered kernels count: an op's scope (fusedConv2d__op, a custom gradient) is profiled too, and its time holds its
 * kernels' time again.
 */
async function profileStep() {
  const { kernels } = await tf.profile(async () => {
    await trainer.step(batch);
  });
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const { name, kernelTimeMs } of kernels) {
    if (!tf.getKernel(name, tf.getBackend())) continue;
    const entry = byKernel.get(name) ?? { ms: 0, calls: 0 };
    entry.ms += typeof kernelTimeMs === 'number' ? kernelTimeMs : 0;
    entry.calls++;
    byKernel.set(name, entry);
  }
  const round = (ms: number) => Number(ms.toFixed(2));
  const top = [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15);
  return {
    gpuMsProfiledStep: round([...byKernel.values()].reduce((sum, { ms }) => sum + ms, 0)),
    gpuMsByKernel: Object.fromEntries(top.map(([name, { ms, calls }]) => [name, { ms: round(ms), calls }])),
  };
}
