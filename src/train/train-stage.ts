// The trainer as the last stage of a training flow: batches in, one step report out per micro-batch; skips the micro-batches
// a resumed run already trained.

import type { Batch } from '../data/samples.ts';
import type { Stage } from '../stream/stage.ts';
import type { StepResult, Trainer } from './trainer.ts';

export interface TrainerStageOptions {
  trainer: Trainer;
  /** Micro-batches at the start of the epoch to pass over (already trained before a resume). Default 0. */
  skip?: number;
}

export interface StepReport extends StepResult {
  /** 1-based count of micro-batches in this epoch, skipped ones included. */
  batchInEpoch: number;
  keys: string[];
}

export function trainerStage(options: TrainerStageOptions): Stage<Batch, StepReport> {
  const { trainer, skip = 0 } = options;
  return async function* (batches) {
    let batchInEpoch = 0;
    for await (const batch of batches) {
      batchInEpoch++;
      if (batchInEpoch <= skip) {
        batch.release?.();
        continue;
      }
      let result: StepResult;
      try {
        result = await trainer.step(batch);
      } finally {
        batch.release?.();
      }
      yield { ...result, batchInEpoch, keys: batch.keys };
    }
  };
}
