// `streamfit inspect <dataset>`: source → decode → resize → render over the whole dataset, without training.

import { maxImageSize } from '../src/config/train-config.ts';
import type { DecodedSample, EncodedSample } from '../src/data/samples.ts';
import { FlagError } from '../src/errors.ts';
import { Quarantine } from '../src/stream/quarantine.ts';
import { flow, mapStage } from '../src/stream/stage.ts';
import { decode } from '../stages/decode.ts';
import { render } from '../stages/render.ts';
import { resize } from '../stages/resize.ts';
import { source } from '../stages/source.ts';
import { intFlag, parseFlags, report } from './args.ts';
import { inspectFlags } from './flags.ts';

export async function inspectCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, inspectFlags);
  const path = positionals[0];
  if (!path) throw new FlagError('<dataset>', 'inspect needs a folder, manifest or tar pattern');
  const imageSize = intFlag(values['image-size'], '--image-size', 600, 32);
  if (imageSize > maxImageSize) throw new FlagError('--image-size', `got ${imageSize}; at most ${maxImageSize} px`);

  const dataset = await source(path);
  const context = { epoch: 0, quarantine: new Quarantine() };
  // Files are counted once however often a manifest lists them, so `decoded + quarantined == files` always holds.
  const listed = new Set<string>();
  const classFiles = new Map<string, Set<string>>(dataset.classes.names.map((name) => [name, new Set<string>()]));
  const sizes = new Map<string, { path: string; width: number; height: number }>();
  let samples = 0;
  const countFiles = mapStage((sample: EncodedSample) => {
    samples++;
    listed.add(sample.origin);
    return sample;
  });
  const measure = mapStage((sample: DecodedSample) => {
    sizes.set(sample.origin, { path: sample.origin, width: sample.width, height: sample.height });
    return sample;
  });
  const decoded = new Set<string>();
  const rendered = flow(dataset, context)
    .pipe(countFiles)
    .pipe(decode())
    .pipe(measure)
    .pipe(resize({ size: imageSize }))
    .pipe(render());
  for await (const sample of rendered) {
    decoded.add(sample.origin);
    classFiles.get(sample.label)?.add(sample.origin);
  }
  const duplicates = samples - listed.size;
  // A file the source itself set aside (a tar member without a label) is a file too.
  for (const entry of context.quarantine.entries) listed.add(entry.path);
  const classes = Object.fromEntries([...classFiles].map(([name, files]) => [name, files.size]));
  const result = {
    dataset: dataset.description,
    files: listed.size,
    decoded: decoded.size,
    quarantined: context.quarantine.entries,
    /** Samples that named a file listed before (a manifest row repeated). */
    duplicates,
    classes,
    images: [...sizes.values()].filter((image) => decoded.has(image.path)),
  };
  const lines = [
    `${dataset.description}: ${result.files} files, ${result.decoded} decoded, ${result.quarantined.length} quarantined`,
    ...(duplicates > 0 ? [`  ${duplicates} listed more than once (counted once)`] : []),
    ...Object.entries(classes).map(([name, n]) => `  ${name}: ${n}`),
    ...result.quarantined.map((entry) => `  quarantined ${entry.path}: ${entry.reason}`),
  ];
  report(values.json, result, lines.join('\n'));
}
