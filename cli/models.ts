// `streamfit models`: every registered model with its family, native resolution and parameter count (1000-class head, as in Keras).

import * as tf from '@tensorflow/tfjs';
import { describeModels } from '../src/models/registry.ts';
import { parseFlags, report } from './args.ts';
import { modelsFlags } from './flags.ts';

export async function modelsCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, modelsFlags);
  await tf.setBackend('cpu');
  const models = describeModels();
  const lines = models.map(
    (m) =>
      `${m.name.padEnd(16)} ${m.family.padEnd(12)} ${String(m.resolution).padStart(4)} px  ${m.params.toLocaleString('en-US').padStart(11)} params  ${String(m.blocks).padStart(2)} blocks  input ${m.preprocessing}`,
  );
  report(values.json, { models }, lines.join('\n'));
}
