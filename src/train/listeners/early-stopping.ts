// Listener: early stopping on valLoss or valAccuracy with patience and min-delta; keeps the best epoch's weights and puts
// them back into the model before it is saved.

import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { loadWeightsByName, saveModel } from '../../models/weights-io.ts';
import { type EarlyStoppingOptions, type EarlyStoppingState, initialEarlyStopping, observeEpoch } from '../early-stopping.ts';
import type { EpochEvent, EpochVerdict, RunContext, StatefulListener } from '../listener.ts';

export class EarlyStopping implements StatefulListener<'earlyStopping'> {
  readonly name = 'earlyStopping';
  readonly judgesBest = true;
  private current: EarlyStoppingState = initialEarlyStopping();

  constructor(
    private readonly options: EarlyStoppingOptions,
    /** Where the best epoch's weights are kept (a tfjs layers model folder). */
    private readonly bestFolder: string,
  ) {}

  async onValidationEnd(run: RunContext, event: EpochEvent): Promise<EpochVerdict> {
    const { metric, patience } = this.options;
    const value = metric === 'valLoss' ? event.evaluation.loss : event.evaluation.accuracy;
    const observed = observeEpoch(this.current, this.options, event.epoch, value);
    this.current = observed.state;
    if (observed.improved) await saveAtomically(run.model, this.bestFolder);
    return {
      best: observed.improved,
      stop: observed.stop
        ? `early stopping: no ${metric} improvement for ${patience} epochs; best was epoch ${this.current.bestEpoch! + 1}`
        : undefined,
    };
  }

  onTrainEnd(run: RunContext): void {
    if (existsSync(join(this.bestFolder, 'model.json'))) loadWeightsByName(run.model, this.bestFolder);
  }

  state(): EarlyStoppingState {
    return this.current;
  }

  loadState(state: EarlyStoppingState): void {
    this.current = state;
  }
}

async function saveAtomically(model: tf.LayersModel, folder: string): Promise<void> {
  const temporary = `${folder}.writing-${process.pid}`;
  rmSync(temporary, { recursive: true, force: true });
  await saveModel(model, temporary);
  rmSync(folder, { recursive: true, force: true });
  renameSync(temporary, folder);
}
