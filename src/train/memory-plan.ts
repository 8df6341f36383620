// Applies the memory planner to a run config: the micro-batch (a divisor of batchSize) and recomputation that fit --memory.

import { requestedBackend, selectBackend } from '../backend/ladder.ts';
import { formatBytes, parseBytes } from '../config/bytes.ts';
import type { TrainConfig } from '../config/train-config.ts';
import { ConfigError } from '../errors.ts';
import { planAlternatives, suggestion } from '../memory/alternatives.ts';
import { estimateWorkers, type Plan, planMemory, profileModel } from '../memory/planner.ts';
import { createModel } from '../models/create-model.ts';
import { resolveWorkerSlots } from './workers/worker-slots.ts';

/**
 * Picks the micro-batch and recomputation for the --memory budget before the first step; the batch size stays. Plans for
 * the phase that trains the most (the fine-tuning one). `log` hears one line describing the plan.
 * Workers: an explicit N is planned for (N workers' host memory, at least N micro-batches an update). 'auto' plans the
 * largest micro-batch for one thread, then takes as many workers (up to the cores and the micro-batches) as the budget
 * holds, and writes that number into the config.
 */
export async function applyMemoryPlan(config: TrainConfig, log: (line: string) => void = () => {}): Promise<TrainConfig> {
  if (!config.memory) throw new ConfigError('memory', 'the planner needs a budget: pass --memory (e.g. 8GiB)');
  const budget = parseBytes(config.memory)!;
  const backend = await selectBackend(requestedBackend(config.backend, process.env));
  const freeze = !config.weights ? 'none' : config.fineTuneEpochs > 0 ? { trainTopBlocks: config.fineTuneBlocks } : 'all';
  const { model } = await createModel(config.model, { classes: 2, imageSize: config.imageSize, freeze, cutAt: config.cutAt });
  let plan: Plan;
  let workers = config.workers;
  try {
    const profile = profileModel(model);
    plan = planMemory(profile, budget, config.batchSize, config.optimizer, workers === 'auto' ? 1 : workers);
    if (workers === 'auto' && plan.fits) {
      let count = resolveWorkerSlots('auto', backend.name, plan.accumulate).length;
      while (count > 1 && estimateWorkers(plan, profile, config.optimizer, count).totalBytes > budget) count--;
      workers = count;
      if (workers > 1) plan = { ...plan, workers: estimateWorkers(plan, profile, config.optimizer, workers) };
    }
  } finally {
    model.dispose();
  }
  if (!plan.fits) {
    const alternatives = await planAlternatives({
      budgetBytes: budget,
      batchSize: config.batchSize,
      optimizer: config.optimizer,
      classes: 2,
      freeze,
    });
    throw new ConfigError(
      'memory',
      `${config.model} at ${config.imageSize} px does not fit in ${config.memory} even at micro-batch 1 with recomputation (needs ${formatBytes(plan.predictedPeakBytes)}); ${suggestion(alternatives, config.model)}`,
    );
  }
  const parallel = plan.workers
    ? `, ${plan.workers.workers} workers of ${formatBytes(plan.workers.perWorkerBytes)} each, ${formatBytes(plan.workers.totalBytes)} in all`
    : `, predicted peak ${formatBytes(plan.predictedPeakBytes)}`;
  log(
    `memory plan: batch size ${plan.batchSize} = micro-batch ${plan.microBatch} × accumulate ${plan.accumulate}${plan.recompute ? ', recomputation on' : ''}${parallel} of ${config.memory}`,
  );
  return { ...config, microBatch: plan.microBatch, recompute: plan.recompute, workers };
}
