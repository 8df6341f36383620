// Benchmark: what one EfficientNet training step asks of the webgpu device (dispatches, submits, buffers) and the host
// time it takes, counted over warm steps through streamfit's Trainer; the programs that dominate the count are listed.
// With --profile, one more step runs under tf.profile: where the adapter has timestamp queries, every kernel's GPU time
// (each then gets its own pass and submit, so the step is slower than the counted ones); their sum is the step's GPU time
// with no host time in it, which says how much of msPerStep is the host's. Then the same steps again with tfjs' own
// recordAndSubmit in place of streamfit's cached one (src/backend/webgpu-cached-record.ts), and with every rebuilt value
// rebuilt by its own rule rather than inside its consumer's kernel (rebuildFusion: swish after BatchNorm): the baselines,
// in the same run.
// With --host-only, both timings are taken again with queue.submit a no-op: the host's own time a step (JavaScript,
// tfjs, Dawn's encoding), which a machine without a GPU can measure; the steps compute nothing then.

import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { recordCacheCounts, recordCaching } from '../src/backend/webgpu-cached-record.ts';
import { countDispatches } from '../src/backend/webgpu-dispatch-count.ts';
import { rebuildFusion } from '../src/memory/lean-backward/saved-value.ts';
import { createModel } from '../src/models/create-model.ts';
import { Trainer } from '../src/train/trainer.ts';
import { syntheticBatch } from './train.ts';

const profile = process.argv.includes('--profile');
const hostOnly = process.argv.includes('--host-only');
const [model = 'efficientnet-b0', size = '64', batchSize = '4', steps = '2'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
await selectBackend('webgpu');
const { model: network } = await createModel(model, { classes: 10, imageSize: Number(size), freeze: 'none' });
const trainer = new Trainer({ model: network, optimizer: { name: 'adam', lr: 1e-3 }, accumulate: 1 });
const batch = syntheticBatch(Number(batchSize), Number(size), 10);
// Warm: pipelines compiled, the pool full, and the record cache's bind groups found again (B0 takes 7 to 14 steps to
// bind the same buffers at every dispatch).
for (let step = 0; step < 16; step++) await trainer.step(batch);
// Counted steps, then timed ones with nothing wrapped: streamfit's recording, then tfjs' own (the pool keeps its fixed
// order for both).
const cache = recordCacheCounts(tf.backend())!;
const cacheBefore = { ...cache };
const { counts } = await countDispatches(async () => {
  for (let step = 0; step < Number(steps); step++) await trainer.step(batch);
});
const cacheUse = Object.fromEntries(Object.entries(cache).map(([name, value]) => [name, value - cacheBefore[name as keyof typeof cache]]));
const per = (value: number) => Number((value / Number(steps)).toFixed(1));
const cached = await timeSteps();
const baseline = await tfjsRecording();
const unfused = await withoutRebuildFusion(async () => {
  const { counts: unfusedCounts } = await countDispatches(async () => {
    for (let step = 0; step < Number(steps); step++) await trainer.step(batch);
  });
  return { counts: unfusedCounts, ...(await timeSteps()) };
});
// tfjs submits every 15 dispatches; each submit has a fixed cost on the driver's side that only a GPU shows. The same
// steps submitting every 60 (freed buffers then wait longer for the pool: streamfit's 64 MiB early submit still bounds them).
const fewerSubmits = await withSubmitEvery(60, async () => {
  const { counts: submitCounts } = await countDispatches(async () => {
    for (let step = 0; step < Number(steps); step++) await trainer.step(batch);
  });
  return { submitEvery: 60, submitsPerStep: per(submitCounts.submits), ...(await timeSteps()) };
});
const gpuTime = profile ? await profileStep() : {};
const hostTime = hostOnly
  ? await withoutSubmits(async () => {
      // Alternated, so that a drift of the machine's speed falls on both sides.
      const runs = { cached: [] as number[], tfjsRecording: [] as number[], unfusedRebuilds: [] as number[] };
      for (let round = 0; round < 5; round++) {
        runs.cached.push((await timeSteps()).msPerStep);
        runs.tfjsRecording.push((await tfjsRecording()).msPerStep);
        runs.unfusedRebuilds.push((await withoutRebuildFusion(timeSteps)).msPerStep);
      }
      return Object.fromEntries(Object.entries(runs).map(([name, times]) => [name, { msPerStep: median(times), runs: times }]));
    })
  : undefined;
process.stdout.write(
  `${JSON.stringify({
    model,
    imageSize: Number(size),
    batchSize: Number(batchSize),
    steps: Number(steps),
    ...cached,
    tfjsRecording: baseline,
    speedupOverTfjsRecording: Number((baseline.msPerStep / cached.msPerStep).toFixed(2)),
    unfusedRebuilds: {
      msPerStep: unfused.msPerStep,
      cpuMsPerStep: unfused.cpuMsPerStep,
      dispatchesPerStep: per(unfused.counts.dispatches),
    },
    speedupOverUnfusedRebuilds: Number((unfused.msPerStep / cached.msPerStep).toFixed(2)),
    fewerSubmits,
    ...(hostTime
      ? {
          hostOnly: {
            ...hostTime,
            speedup: Number((hostTime.tfjsRecording.msPerStep / hostTime.cached.msPerStep).toFixed(2)),
            speedupOverUnfusedRebuilds: Number((hostTime.unfusedRebuilds.msPerStep / hostTime.cached.msPerStep).toFixed(2)),
          },
        }
      : {}),
    recordCachePerStep: Object.fromEntries(Object.entries(cacheUse).map(([name, value]) => [name, per(value)])),
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

/** The step with every dispatch recorded by tfjs' own recordAndSubmit: a fresh uniform buffer and bind group each. */
async function tfjsRecording() {
  recordCaching.enabled = false;
  try {
    return await timeSteps();
  } finally {
    recordCaching.enabled = true;
  }
}

/** `body` with tfjs submitting every `dispatches` dispatches. */
async function withSubmitEvery<T>(dispatches: number, body: () => Promise<T>): Promise<T> {
  const flag = 'WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE';
  const before = tf.env().get(flag);
  tf.env().set(flag, dispatches);
  try {
    return await body();
  } finally {
    tf.env().set(flag, before);
  }
}

/** `body` with every rebuilt value rebuilt by its own rule (src/memory/lean-backward/saved-value.ts). */
async function withoutRebuildFusion<T>(body: () => Promise<T>): Promise<T> {
  rebuildFusion.enabled = false;
  try {
    return await body();
  } finally {
    rebuildFusion.enabled = true;
  }
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

/** Wall and CPU milliseconds a step, after one more warm step. */
async function timeSteps() {
  await trainer.step(batch);
  const begin = performance.now();
  const cpuBegin = process.cpuUsage();
  for (let step = 0; step < Number(steps); step++) await trainer.step(batch);
  const cpuUsed = process.cpuUsage(cpuBegin);
  return {
    msPerStep: Number(((performance.now() - begin) / Number(steps)).toFixed(1)),
    cpuMsPerStep: Number(((cpuUsed.user + cpuUsed.system) / 1000 / Number(steps)).toFixed(1)),
  };
}

/** `body` with queue.submit a no-op: the commands are encoded and dropped, so only the host's work is timed. */
async function withoutSubmits<T>(body: () => Promise<T>): Promise<T> {
  const queue = (tf.backend() as unknown as { queue: GPUQueue }).queue;
  const own = Object.hasOwn(queue, 'submit');
  const submit = queue.submit;
  queue.submit = () => undefined;
  try {
    return await body();
  } finally {
    if (own) queue.submit = submit;
    else delete (queue as Partial<GPUQueue>).submit;
  }
}

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
