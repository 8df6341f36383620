// The planner's answer to "what if this model is too big for my card?": every registered model at its native resolution,
// planned under the same budget, batch, optimizer and freezing, best first.

import { createModel, type Freeze } from '../models/create-model.ts';
import { registeredModels } from '../models/registry.ts';
import { type OptimizerName, type Plan, planMemory, profileModel } from './planner.ts';

export interface Alternative {
  model: string;
  resolution: number;
  fits: boolean;
  microBatch: number;
  accumulate: number;
  recompute: boolean;
  predictedPeakBytes: number;
}

export interface AlternativesRequest {
  budgetBytes: number;
  /** Samples per optimizer update. */
  batchSize: number;
  optimizer: OptimizerName;
  classes: number;
  freeze: Freeze;
}

/**
 * Most of the batch in one step first (a plan that does not fit has none of it), then without recomputation (a third less
 * compute), then the smaller predicted peak.
 */
export function rankAlternatives(alternatives: Alternative[]): Alternative[] {
  const share = (alternative: Alternative) => (alternative.fits ? alternative.microBatch : 0);
  return [...alternatives].sort(
    (a, b) => share(b) - share(a) || Number(a.recompute) - Number(b.recompute) || a.predictedPeakBytes - b.predictedPeakBytes,
  );
}

export function toAlternative(model: string, resolution: number, plan: Plan): Alternative {
  const { fits, microBatch, accumulate, recompute, predictedPeakBytes } = plan;
  return { model, resolution, fits, microBatch, accumulate, recompute, predictedPeakBytes };
}

/** Builds each registered model in turn (one at a time, disposed before the next) and plans it. */
export async function planAlternatives(request: AlternativesRequest): Promise<Alternative[]> {
  const alternatives: Alternative[] = [];
  for (const definition of registeredModels) {
    const { model } = await createModel(definition.name, {
      classes: request.classes,
      imageSize: definition.resolution,
      freeze: request.freeze,
    });
    try {
      const plan = planMemory(profileModel(model), request.budgetBytes, request.batchSize, request.optimizer);
      alternatives.push(toAlternative(definition.name, definition.resolution, plan));
    } finally {
      model.dispose();
    }
  }
  return rankAlternatives(alternatives);
}

/** What a plan that does not fit suggests: the best other model that does, in words. */
export function suggestion(alternatives: Alternative[], excluding: string): string {
  const best = alternatives.find((alternative) => alternative.fits && alternative.model !== excluding);
  if (!best) return 'no registered model fits at its native resolution either';
  return `${best.model} at ${best.resolution} px fits (micro-batch ${best.microBatch} × accumulate ${best.accumulate}${best.recompute ? ', with recomputation' : ''})`;
}
