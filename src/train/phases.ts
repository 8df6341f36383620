// The phases of a run: the head with the backbone frozen, then the top blocks at a lower rate (with weights); else one phase.

import type { TrainConfig } from '../config/train-config.ts';
import type { Freeze } from '../models/create-model.ts';
import type { Schedule } from './schedules.ts';

export interface Phase {
  name: string;
  freeze: Freeze;
  lr: number;
  /** Epochs [firstEpoch, endEpoch), counted over the whole run. */
  firstEpoch: number;
  endEpoch: number;
}

/** Head-only training then the top blocks at a lower rate when weights are given; the whole network otherwise. */
export function planPhases(config: TrainConfig): Phase[] {
  if (!config.weights) {
    return [{ name: 'from scratch', freeze: 'none', lr: config.lr, firstEpoch: 0, endEpoch: config.epochs + config.fineTuneEpochs }];
  }
  const phases: Phase[] = [{ name: 'head', freeze: 'all', lr: config.lr, firstEpoch: 0, endEpoch: config.epochs }];
  if (config.fineTuneEpochs > 0) {
    phases.push({
      name: `fine-tune top ${config.fineTuneBlocks} blocks`,
      freeze: { trainTopBlocks: config.fineTuneBlocks },
      lr: config.lr * config.fineTuneLrFactor,
      firstEpoch: config.epochs,
      endEpoch: config.epochs + config.fineTuneEpochs,
    });
  }
  return phases;
}

/** The learning-rate schedule of one phase, in optimizer steps. */
export function scheduleFor(config: TrainConfig, phase: Phase, stepsPerEpoch: number): Schedule {
  const epochs = phase.endEpoch - phase.firstEpoch;
  if (config.schedule === 'constant') return { name: 'constant' };
  if (config.schedule === 'step')
    return { name: 'step', everySteps: Math.max(1, config.stepEpochs * stepsPerEpoch), factor: config.stepFactor };
  return {
    name: 'cosine',
    warmupSteps: Math.round(Math.min(config.warmupEpochs, epochs) * stepsPerEpoch),
    totalSteps: Math.max(1, epochs * stepsPerEpoch),
  };
}
