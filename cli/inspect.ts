// `streamfit inspect <dataset>`: source → decode → resize → render over the whole dataset, without training.

import type { DecodedSample, EncodedSample } from '../src/data/samples.ts';
import { FlagError } from '../src/errors.ts';
import { Quarantine } from '../src/stream/quarantine.ts';
import { flow, mapStage } from '../src/stream/stage.ts';
import { decode } from '../stages/decode.ts';
import { render } from '../stages/render.ts';
import { resize } from '../stages/resize.ts';
import { source } from '../stages/source.ts';
import { intFlag, parseFlags, report } from './args.ts';

export async function inspectCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, { 'image-size': { type: 'string' } });
  const path = positionals[0];
  if (!path) throw new FlagError('<dataset>', 'inspect needs a folder, manifest or tar pattern');
  const imageSize = intFlag(values['image-size'], '--image-size', 600);

  const dataset = await source(path);
  const context = { epoch: 0, quarantine: new Quarantine() };
  const classes: Record<string, number> = Object.fromEntries(dataset.classes.names.map((name) => [name, 0]));
  const images: Array<{ path: string; width: number; height: number }> = [];
  let files = 0;
  const count = mapStage((sample: DecodedSample) => {
    images.push({ path: sample.origin, width: sample.width, height: sample.height });
    return sample;
  });
  const countFiles = mapStage((sample: EncodedSample) => {
    files++;
    return sample;
  });
  const decoded = new Set<string>();
  const rendered = flow(dataset, context)
    .pipe(countFiles)
    .pipe(decode())
    .pipe(count)
    .pipe(resize({ size: imageSize }))
    .pipe(render());
  for await (const sample of rendered) {
    decoded.add(sample.origin);
    classes[sample.label] = (classes[sample.label] ?? 0) + 1;
  }
  const result = {
    dataset: dataset.description,
    files,
    decoded: decoded.size,
    quarantined: context.quarantine.entries,
    classes,
    images: images.filter((image) => decoded.has(image.path)),
  };
  const lines = [
    `${dataset.description}: ${files} files, ${result.decoded} decoded, ${result.quarantined.length} quarantined`,
    ...Object.entries(classes).map(([name, n]) => `  ${name}: ${n}`),
    ...result.quarantined.map((entry) => `  quarantined ${entry.path}: ${entry.reason}`),
  ];
  report(values.json, result, lines.join('\n'));
}
