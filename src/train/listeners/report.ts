// Listener: report.html, rewritten atomically after every epoch (so it can be watched during a run) and at the end (finished,
// stopped early or interrupted). Keeps the per-step loss and learning rate, which travel in checkpoints.

import { formatBytes } from '../../config/bytes.ts';
import { writeFileAtomic } from '../../models/weights-io.ts';
import { renderReport } from '../../report/html-report.ts';
import { formatDuration } from '../../report/progress-line.ts';
import { StepCurve, type StepCurveState } from '../../report/step-curve.ts';
import type { RunContext, RunSummary, StatefulListener, StepEvent } from '../listener.ts';

declare module '../run-state.ts' {
  interface ListenerStates {
    report?: StepCurveState;
  }
}

export class Report implements StatefulListener<'report'> {
  readonly name = 'report';
  private readonly curve = new StepCurve();

  constructor(
    readonly file: string,
    /** The backend as the report names it ('wasm 4.22.0'). */
    private readonly backend: string,
  ) {}

  onStep(_run: RunContext, step: StepEvent): void {
    this.curve.add(step.step, step.loss, step.learningRate);
  }

  onEpochEnd(run: RunContext): void {
    const next = run.position.epoch;
    this.write(run, run.stopReason === null && next < run.totalEpochs ? `running: epoch ${next} of ${run.totalEpochs} done` : 'finishing');
  }

  onRunEnd(run: RunContext, summary: RunSummary): void {
    const status = { completed: 'completed', 'stopped-early': 'stopped early', interrupted: 'interrupted' }[summary.status];
    this.write(run, `${status}${summary.signal ? ` by ${summary.signal}` : ''}`, summary);
  }

  state(): StepCurveState {
    return this.curve.state();
  }

  loadState(state: StepCurveState): void {
    this.curve.loadState(state);
  }

  private write(run: RunContext, status: string, summary?: RunSummary): void {
    const { config, history, best } = run;
    const seconds = history.map((record) => record.seconds).filter((value) => value !== undefined);
    const rates = history.map((record) => record.imagesPerSec).filter((value) => value !== undefined);
    const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
    const validated = history.at(-1)?.validationSamples;
    const quarantineFile = run.quarantine.file;
    const notes = [
      ...(config.weights ? [] : ['Trained from scratch: no pretrained weights were given.']),
      ...(summary?.status === 'interrupted' ? ['Interrupted: this report shows the epochs finished so far; continue with --resume.'] : []),
      ...(summary?.stoppedEarly && best ? [`Stopped early; the saved model has the weights of epoch ${best.epoch + 1}.`] : []),
      ...(run.quarantined > 0
        ? [
            `${run.quarantined} sample${run.quarantined === 1 ? ' was' : 's were'} quarantined${quarantineFile ? `: see ${quarantineFile}` : ''}.`,
          ]
        : []),
    ];
    writeFileAtomic(
      this.file,
      renderReport({
        name: config.name,
        status,
        writtenAt: new Date(),
        notes,
        history: [...history],
        steps: this.curve.points,
        bestEpoch: best?.epoch,
        k: best?.evaluation.k ?? Math.min(config.topK, run.classes.length),
        classes: run.classes,
        confusion: best
          ? { epoch: best.epoch, matrix: best.evaluation.confusion, perClassAccuracy: best.evaluation.perClassAccuracy }
          : undefined,
        facts: [
          ['model', `${config.model} at ${config.imageSize} px${config.weights ? `, weights from ${config.weights}` : ', from scratch'}`],
          ['data', config.data],
          ['classes', `${run.classes.length}: ${run.classes.join(', ')}`],
          ['samples', `${run.trainSamples} training, ${validated ?? run.validationSamples} validation`],
          ['quarantined', `${run.quarantined}${quarantineFile ? ` (${quarantineFile})` : ''}`],
          ['epochs', `${history.length} of ${run.totalEpochs}; ${run.steps} optimizer updates`],
          ['batch', `${config.batchSize} samples an update, micro-batch ${config.microBatch}`],
          ['wall time', formatDuration(summary?.seconds ?? run.seconds)],
          ['time per epoch', seconds.length > 0 ? `${formatDuration(mean(seconds))} (mean of ${seconds.length})` : '–'],
          ['images/s', rates.length > 0 ? `${mean(rates).toFixed(1)} training (mean over epochs)` : '–'],
          ['backend', this.backend],
          ['memory', `peak RSS ${summary ? '' : 'so far '}${formatBytes(process.resourceUsage().maxRSS * 1024)}`],
          ['run folder', run.runDir],
        ],
        config: { ...config },
      }),
    );
  }
}
