// The run flags shared by train and sweep: the pipeline file named by --config; turning flags into config fields and
// validating the whole is the engine's (src/config/config-flags.ts, src/config/run-config.ts).

import { existsSync } from 'node:fs';
import { loadPipeline as loadPipelineFile } from '../src/config/run-config.ts';
import { FlagError } from '../src/errors.ts';
import type { PipelineDefinition } from '../src/train/pipeline-definition.ts';

export { configFromFlags, positionalData, runFlags } from '../src/config/config-flags.ts';
export { resolveRunConfig, resumeFolder } from '../src/config/run-config.ts';

export const defaultPipelineFile = 'pipelines/default.ts';

/** The pipeline named by --config. */
export async function loadPipeline(file: string): Promise<PipelineDefinition> {
  if (!existsSync(file)) throw new FlagError('--config', `${file}: no such pipeline file`);
  return loadPipelineFile(file);
}
