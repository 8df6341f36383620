// `streamfit bench pipeline|train`: benchmarks that print JSON with their in-run baseline.

import { FlagError } from '../src/errors.ts';
import { intFlag, parseFlags, report } from './args.ts';

export async function benchCommand(argv: string[]): Promise<void> {
  const [which, ...rest] = argv;
  if (which === 'pipeline') {
    const { values } = parseFlags(rest, { images: { type: 'string' } });
    const { benchPipeline } = await import('../bench/pipeline.ts');
    const result = await benchPipeline({ images: intFlag(values.images, '--images', 200, 8), log: (line) => process.stderr.write(line + '\n') });
    report(true, result, `pipeline: ${result.imagesPerSec} images/s = ${result.ratio} × sharp alone (${result.ceilingImagesPerSec}); RSS ×${result.rssMiB.ratio} for 10× the images`);
    return;
  }
  throw new FlagError('<benchmark>', `expected 'pipeline', got '${which ?? ''}'`);
}
