// `streamfit models`: the EfficientNet variants with their scaling and parameter counts (1000-class head, as in Keras).

import * as tf from '@tensorflow/tfjs';
import { buildEfficientNet } from '../src/models/efficientnet.ts';
import { efficientNetVariants } from '../src/models/variants.ts';
import { parseFlags, report } from './args.ts';

export async function modelsCommand(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, {});
  await tf.setBackend('cpu');
  const models = efficientNetVariants.map((variant) => {
    // Parameter counts do not depend on the input size, so a small one keeps this quick.
    const model = buildEfficientNet(variant, { imageSize: 64, includeTop: true, classes: 1000 });
    const params = model.countParams();
    model.dispose();
    return { ...variant, params };
  });
  const lines = models.map(
    (m) =>
      `${m.name.padEnd(16)} ${String(m.resolution).padStart(4)} px  ${m.params.toLocaleString('en-US').padStart(11)} params  width ${m.widthCoefficient}  depth ${m.depthCoefficient}  dropout ${m.dropout}`,
  );
  report(values.json, { models }, lines.join('\n'));
}
