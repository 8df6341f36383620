// Listener: writes a checkpoint every N optimizer updates, after every epoch, and when a stop signal arrives.

import { writeCheckpoint } from '../checkpoint.ts';
import type { RunContext, RunListener, StepEvent } from '../listener.ts';

export class Checkpointing implements RunListener {
  constructor(
    private readonly folder: string,
    /** Optimizer updates between checkpoints inside an epoch. */
    private readonly everySteps: number,
  ) {}

  async onStep(run: RunContext, step: StepEvent): Promise<void> {
    if (step.step % this.everySteps === 0) await this.write(run);
  }

  async onEpochEnd(run: RunContext): Promise<void> {
    await this.write(run);
  }

  async onInterrupt(run: RunContext, reason: string): Promise<void> {
    await this.write(run);
    run.message(
      `${reason} received: checkpoint written at epoch ${run.position.epoch + 1}, batch ${run.position.batchInEpoch}; continue with --resume`,
    );
  }

  private async write(run: RunContext): Promise<void> {
    if (!run.trainer) throw new Error('a checkpoint needs the trainer of the current phase');
    await writeCheckpoint(this.folder, run.trainer, run.snapshot());
  }
}
