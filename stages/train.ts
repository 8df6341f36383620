// Train: consumes batches into the accumulating trainer and yields one report per batch; skips batches a resumed run already trained.

import type { Batch } from '../src/data/samples.ts';
import type { Stage } from '../src/stream/stage.ts';
import type { StepResult, Trainer } from '../src/train/trainer.ts';

export interface TrainStageOptions {
  trainer: Trainer;
  /** Batches at the start of the epoch to pass over (already trained before a resume). Default 0. */
  skip?: number;
}

export interface StepReport extends StepResult {
  /** 1-based count of batches in this epoch, skipped ones included. */
  batchInEpoch: number;
  keys: string[];
}

export function train(options: TrainStageOptions): Stage<Batch, StepReport> {
  const { trainer, skip = 0 } = options;
  return async function* (batches) {
    let batchInEpoch = 0;
    for await (const batch of batches) {
      batchInEpoch++;
      if (batchInEpoch <= skip) {
        batch.release?.();
        continue;
      }
      const result = trainer.step(batch);
      batch.release?.();
      yield { ...result, batchInEpoch, keys: batch.keys };
    }
  };
}
