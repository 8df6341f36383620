// Listener: report.html at the end of the run (finished, stopped early or interrupted): curves, confusion matrix, notes.

import { writeFileSync } from 'node:fs';
import { renderReport } from '../../report/html-report.ts';
import type { RunContext, RunListener, RunSummary } from '../listener.ts';

export class Report implements RunListener {
  constructor(
    readonly file: string,
    /** The backend as the report names it ('wasm 4.22.0'). */
    private readonly backend: string,
  ) {}

  onRunEnd(run: RunContext, summary: RunSummary): void {
    const { config, classes, best } = run;
    writeFileSync(
      this.file,
      renderReport({
        title: `streamfit run ${config.name}`,
        notes: [
          ...(summary.fromScratch ? ['Trained from scratch: no pretrained weights were given.'] : []),
          ...(summary.status === 'interrupted' ? ['Interrupted: this report shows the epochs finished so far.'] : []),
          ...(summary.stoppedEarly ? [`Stopped early; the saved model has the weights of epoch ${(best?.epoch ?? 0) + 1}.`] : []),
        ],
        history: [...run.history],
        classes,
        confusion: best?.evaluation.confusion ?? classes.map(() => classes.map(() => 0)),
        perClassAccuracy: best?.evaluation.perClassAccuracy ?? [],
        summary: {
          model: config.model,
          imageSize: config.imageSize,
          backend: this.backend,
          data: config.data,
          epochs: run.history.length,
          bestEpoch: best ? best.epoch + 1 : '–',
        },
      }),
    );
  }
}
