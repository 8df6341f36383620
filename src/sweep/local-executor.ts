// The local executor: each trial a child process of the sweep on this machine, a few at a time.

import pLimit from 'p-limit';
import type { Rung, TrialExecutor, TrialOutcome } from './executor.ts';
import type { TrialLaunch } from './sweep-state.ts';
import { runTrial } from './trial.ts';

export interface LocalExecutorOptions {
  sweepDir: string;
  launch: TrialLaunch;
  /** Trials at once. */
  concurrency: number;
}

export class LocalExecutor implements TrialExecutor {
  readonly name = 'local';

  constructor(private readonly options: LocalExecutorOptions) {}

  async runRung(rung: Rung, signal: AbortSignal, onOutcome: (id: string, outcome: TrialOutcome) => void): Promise<void> {
    const limit = pLimit(this.options.concurrency);
    const { sweepDir, launch } = this.options;
    await Promise.all(
      rung.trials.map((trial) => limit(async () => onOutcome(trial.id, await runTrial(sweepDir, trial.id, { launch, signal })))),
    );
  }
}
