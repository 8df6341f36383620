// `streamfit train [<data>]`: a pipeline file and flags → a validated config → a training run in runs/<name>/.

import { applyMemoryPlan } from '../src/train/memory-plan.ts';
import { runWithPipeline } from '../src/train/run-pipeline.ts';
import { source } from '../stages/source.ts';
import { parseFlags, report } from './args.ts';
import { trainFlags } from './flags.ts';
import { configFromFlags, defaultPipelineFile, loadPipeline, positionalData, resolveRunConfig, resumeFolder } from './run-config.ts';

export async function trainCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, trainFlags);
  const data = positionalData(positionals, values);
  const pipeline = await loadPipeline(typeof values.config === 'string' ? values.config : defaultPipelineFile);
  const flags: Record<string, unknown> = { ...configFromFlags(values), ...(data === undefined ? {} : { data }) };
  const resumeDir = values.resume ? resumeFolder(pipeline, flags) : undefined;
  const resolved = resolveRunConfig(pipeline, flags, resumeDir);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const config = resolved.planner && !values.resume ? await applyMemoryPlan(resolved, log) : resolved;

  // SIGINT and SIGTERM end the run at the next micro-batch, with a checkpoint to resume from.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => stop.abort(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const dataset = await source(config.data);
    const summary = await runWithPipeline(config, pipeline, { dataset, resume: Boolean(values.resume), signal: stop.signal });
    const lines = [
      `run ${summary.status}: ${summary.epochs} epoch${summary.epochs === 1 ? '' : 's'}, best epoch ${summary.bestEpoch ?? '–'}, validation accuracy ${summary.valAccuracy === null ? '–' : `${(summary.valAccuracy * 100).toFixed(1)}%`}, ${summary.quarantined} quarantined`,
      `report: ${summary.reportPath}`,
    ];
    report(values.json, summary, lines.join('\n'));
    if (summary.status === 'interrupted') process.exitCode = summary.signal === 'SIGTERM' ? 143 : 130;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
