// `streamfit plan`: micro-batch, accumulation and recomputation for a memory budget, read off the built model before any step.

import * as tf from '@tensorflow/tfjs';
import { requestedBackend, selectBackend } from '../src/backend/ladder.ts';
import { capPooledBytes, gpuBytes, withPeakGpuBytes } from '../src/backend/webgpu-memory.ts';
import { formatBytes, parseBytes } from '../src/config/bytes.ts';
import { defaultTrainConfig, maxImageSize } from '../src/config/train-config.ts';
import type { Batch } from '../src/data/samples.ts';
import { ConfigError, FlagError } from '../src/errors.ts';
import { type Alternative, planAlternatives, suggestion } from '../src/memory/alternatives.ts';
import { type OptimizerName, type Plan, planMemory, profileModel } from '../src/memory/planner.ts';
import { createModel, type Freeze } from '../src/models/create-model.ts';
import { findModel, modelNames } from '../src/models/registry.ts';
import { Trainer } from '../src/train/trainer.ts';
import { physicalCores } from '../src/train/workers/worker-slots.ts';
import { aliasedFlag, intFlag, parseFlags, report } from './args.ts';
import { planFlags } from './flags.ts';

const optimizers = ['adam', 'adamw', 'sgd', 'rmsprop'];

export function parseFreeze(value: string | undefined): Freeze {
  if (value === undefined || value === 'none' || value === 'all') return value ?? 'none';
  const match = /^top:(\d+)$/.exec(value);
  if (!match) throw new FlagError('--freeze', `expected none, all or top:<blocks>, got '${value}'`);
  return { trainTopBlocks: Number(match[1]) };
}

export async function planCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, planFlags);
  const modelName = values.model ?? 'efficientnet-b0';
  const definition = findModel(modelName);
  if (!definition) throw new FlagError('--model', `unknown model '${modelName}' (expected one of ${modelNames.join(', ')})`);
  const imageSize = intFlag(values['image-size'], '--image-size', definition.resolution, 32);
  if (imageSize > maxImageSize) throw new FlagError('--image-size', `got ${imageSize}; at most ${maxImageSize} px`);
  const batchSize = intFlag(aliasedFlag(values, 'batch-size', 'batch'), '--batch-size', 32);
  if (!values.memory) throw new FlagError('--memory', 'plan needs a budget such as --memory 8GiB');
  const budgetBytes = parseBytes(values.memory);
  if (!budgetBytes) throw new FlagError('--memory', `expected a size such as 8GiB or 512MiB, got '${values.memory}'`);
  const optimizer = (values.optimizer ?? 'adam') as OptimizerName;
  if (!optimizers.includes(optimizer))
    throw new FlagError('--optimizer', `expected one of ${optimizers.join(', ')}, got '${values.optimizer}'`);
  const freeze = parseFreeze(values.freeze);
  const workers = values.workers === 'auto' ? physicalCores() : intFlag(values.workers, '--workers', 1, 1);
  if (workers > 1 && values.measure)
    throw new FlagError(
      '--measure',
      'measures one step in this thread; plan with --workers without --measure (each worker is planned as that step)',
    );
  const backend = await selectBackend(requestedBackend(values.backend ?? (values.measure ? undefined : 'cpu'), process.env));

  const classes = intFlag(values.classes, '--classes', 1000);
  const { model } = await createModel(modelName, { classes, imageSize, freeze });
  const plan = planMemory(profileModel(model), budgetBytes, batchSize, optimizer, workers);
  const result: PlanResult = { ...plan, model: definition.name, imageSize, backend: backend.name };
  // Every registered model is planned when asked, and when this one does not fit, to suggest the best that does.
  const alternatives =
    values.alternatives || !plan.fits ? await planAlternatives({ budgetBytes, batchSize, optimizer, classes, freeze }) : undefined;
  if (values.alternatives) result.alternatives = alternatives;
  if (!plan.fits) result.suggestion = suggestion(alternatives!, definition.name);
  if (values.measure) {
    if (!plan.fits)
      throw new ConfigError('memory', `nothing fits in ${formatBytes(budgetBytes)}, so there is nothing to measure; ${result.suggestion}`);
    const measured = await measureStep(model, plan, optimizer, imageSize);
    result.measuredPeakBytes = measured.peakBytes;
    if (measured.gpuAllocatedBytes !== undefined) {
      result.gpuPeakBytes = measured.peakBytes;
      result.gpuAllocatedBytes = measured.gpuAllocatedBytes;
    }
    result.measuredOverPredicted = Number((result.measuredPeakBytes / plan.predictedPeakBytes).toFixed(4));
  }
  model.dispose();
  report(values.json, result, describePlan(result));
  if (!plan.fits) process.exitCode = 1; // a plan that fits nothing is a failure a script must see
}

type PlanResult = Plan & {
  model: string;
  imageSize: number;
  backend: string;
  measuredPeakBytes?: number;
  measuredOverPredicted?: number;
  /** webgpu: the GPU bytes in use at the step's peak (= measuredPeakBytes there) and held after it, pool included. */
  gpuPeakBytes?: number;
  gpuAllocatedBytes?: number;
  alternatives?: Alternative[];
  suggestion?: string;
};

/**
 * Peak bytes of a real training step at the planned micro-batch (after one warm-up step creates the optimizer slots), from
 * tf.profile; on webgpu the GPU bytes in use (tf.memory().numBytesInGPU), and what the device holds after, pool included.
 */
async function measureStep(
  model: tf.LayersModel,
  plan: Plan,
  optimizer: OptimizerName,
  imageSize: number,
): Promise<{ peakBytes: number; gpuAllocatedBytes?: number }> {
  // With a run's default momentum, as training uses it: SGD then keeps the momentum slot the planner counts.
  const trainer = new Trainer({
    model,
    optimizer: { name: optimizer, lr: 1e-4, momentum: defaultTrainConfig.momentum },
    accumulate: 1,
    recompute: plan.recompute,
  });
  const classes = (model.outputs[0].shape[1] as number) ?? 2;
  const size = plan.microBatch * imageSize * imageSize * 3;
  const batch: Batch = {
    x: Uint8Array.from({ length: size }, (_, i) => (i * 2654435761) >>> 24),
    y: Int32Array.from({ length: plan.microBatch }, (_, i) => i % classes),
    keys: [],
    shape: [plan.microBatch, imageSize, imageSize, 3],
    dtype: 'uint8',
    bytes: size,
  };
  try {
    await trainer.step(batch);
    if (tf.getBackend() === 'webgpu') {
      capPooledBytes(plan.budgetBytes); // as a run with --memory does
      const { peakBytes } = await withPeakGpuBytes(() => trainer.step(batch));
      return { peakBytes, gpuAllocatedBytes: gpuBytes()?.allocated };
    }
    const profile = await tf.profile(async () => {
      await trainer.step(batch);
      return tf.scalar(0);
    });
    tf.dispose(profile.result as tf.Tensor);
    return { peakBytes: profile.peakBytes };
  } finally {
    trainer.dispose();
  }
}

function describePlan(result: PlanResult): string {
  const rows = Object.entries(result.breakdown).map(([name, bytes]) => `  ${name.padEnd(13)} ${formatBytes(bytes).padStart(11)}`);
  const workers = result.workers;
  const parallel = workers
    ? [
        `  ${workers.workers} workers, each ${formatBytes(workers.perWorkerBytes)} (its model, accumulators and micro-batch's backward pass);`,
        `  main thread ${formatBytes(workers.mainBytes)} (weights, accumulators, optimizer slots, update), shared buffers ${formatBytes(workers.sharedBytes)}`,
      ]
    : [];
  const verdict = result.fits
    ? `micro-batch ${result.microBatch} × accumulate ${result.accumulate} = batch size ${result.batchSize}${result.recompute ? ', with recomputation' : ''}`
    : `does not fit: even micro-batch 1 with recomputation needs ${formatBytes(result.predictedPeakBytes)}; ${result.suggestion}`;
  const alternatives = (result.alternatives ?? []).map(
    (a) =>
      `  ${a.model.padEnd(16)} ${String(a.resolution).padStart(4)} px  ${a.fits ? `micro-batch ${a.microBatch} × accumulate ${a.accumulate}${a.recompute ? ', recompute' : ''}` : 'does not fit'}  ${formatBytes(a.predictedPeakBytes)}`,
  );
  return [
    `${result.model} at ${result.imageSize} px, batch size ${result.batchSize}, budget ${formatBytes(result.budgetBytes)}:`,
    `  ${verdict}`,
    ...(workers ? ['  one step in one thread:'] : []),
    ...rows,
    ...parallel,
    `  ${(workers ? 'total' : 'predicted').padEnd(13)} ${formatBytes(result.predictedPeakBytes).padStart(11)}`,
    ...(result.measuredPeakBytes ? [`  ${'measured'.padEnd(13)} ${formatBytes(result.measuredPeakBytes).padStart(11)}`] : []),
    ...(alternatives.length > 0 ? [`alternatives at their native resolution, same budget and batch:`, ...alternatives] : []),
  ].join('\n');
}
