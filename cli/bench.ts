// `streamfit bench pipeline|train|kernels|cache`: benchmarks that print JSON with their in-run baseline.

import { FlagError } from '../src/errors.ts';
import { intFlag, parseFlags, report } from './args.ts';

export async function benchCommand(argv: string[]): Promise<void> {
  const [which, ...rest] = argv;
  if (which === 'pipeline') {
    const { values } = parseFlags(rest, { images: { type: 'string' } });
    const { benchPipeline } = await import('../bench/pipeline.ts');
    const result = await benchPipeline({
      images: intFlag(values.images, '--images', 400, 8),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    report(
      true,
      result,
      `pipeline: ${result.imagesPerSec} images/s = ${result.ratio} × sharp alone (${result.ceilingImagesPerSec}); RSS ×${result.rssMiB.ratio} for 10× the images`,
    );
    return;
  }
  if (which === 'train') {
    const { values } = parseFlags(rest, {
      backend: { type: 'string' },
      model: { type: 'string' },
      'image-size': { type: 'string' },
      batch: { type: 'string' },
      steps: { type: 'string' },
      baseline: { type: 'string' },
      'baseline-steps': { type: 'string' },
      pytorch: { type: 'boolean' },
    });
    const { benchTrain, benchTrainInChild, benchPytorch, machine } = await import('../bench/train.ts');
    const options = {
      backend: values.backend ?? process.env.STREAMFIT_BACKEND,
      model: values.model ?? 'efficientnet-b0',
      imageSize: intFlag(values['image-size'], '--image-size', 128, 32),
      batch: intFlag(values.batch, '--batch', 8),
      steps: intFlag(values.steps, '--steps', 3),
    };
    const result: Record<string, unknown> = { bench: 'train', machine: machine(), ...(await benchTrain(options)) };
    const lines = [`${result.backend}: ${result.msPerStep} ms a step (${result.cpuMsPerStep} ms of CPU), ${result.imagesPerSec} images/s`];
    if (values.baseline) {
      // The baseline runs in a child process, with its own (often fewer) steps: the cpu backend takes minutes a step.
      const baseline = benchTrainInChild({
        ...options,
        backend: values.baseline,
        steps: intFlag(values['baseline-steps'], '--baseline-steps', 1),
      });
      result.baseline = baseline;
      result.speedupOverBaseline = Number((baseline.msPerStep / (result.msPerStep as number)).toFixed(2));
      lines.push(`${baseline.backend}: ${baseline.msPerStep} ms a step → ${result.speedupOverBaseline}× faster`);
    }
    if (values.pytorch) {
      const pytorch = benchPytorch(options);
      result.pytorch = pytorch;
      if ('msPerStep' in pytorch) {
        result.ratioToPytorch = Number(((result.msPerStep as number) / pytorch.msPerStep).toFixed(2));
        lines.push(
          `PyTorch ${pytorch.version}: ${pytorch.msPerStep.toFixed(1)} ms a step (${pytorch.cpuMsPerStep.toFixed(1)} ms of CPU) → streamfit takes ${result.ratioToPytorch}× as long`,
        );
      } else lines.push(pytorch.unavailable);
    }
    report(true, result, lines.join('\n'));
    return;
  }
  if (which === 'kernels') {
    const { values } = parseFlags(rest, {
      model: { type: 'string' },
      'image-size': { type: 'string' },
      batch: { type: 'string' },
      repeats: { type: 'string' },
    });
    const { benchKernels } = await import('../bench/kernels.ts');
    const result = await benchKernels({
      model: values.model ?? 'efficientnet-b0',
      imageSize: intFlag(values['image-size'], '--image-size', 128, 32),
      batch: intFlag(values.batch, '--batch', 8),
      repeats: intFlag(values.repeats, '--repeats', 5),
    });
    const lines = result.kernels.map(
      (line) => `${line.kernel}: ${line.compiledMs} ms vs ${line.baselineMs} ms (${line.baseline}) → ${line.speedup}×, ${line.calls} calls`,
    );
    lines.push(
      `all: ${result.total.compiledMs} ms vs ${result.total.baselineMs} ms a step → ${result.total.speedup}× (load ${result.loadAverage[0]})`,
    );
    report(true, result, lines.join('\n'));
    return;
  }
  if (which === 'cache') {
    const { values } = parseFlags(rest, { data: { type: 'string' }, 'image-size': { type: 'string' }, epochs: { type: 'string' } });
    const { benchFeatureCache } = await import('../bench/feature-cache.ts');
    const result = await benchFeatureCache({
      data: values.data ?? 'fixtures/generated/shapes',
      imageSize: intFlag(values['image-size'], '--image-size', 128, 32),
      epochs: intFlag(values.epochs, '--epochs', 5),
    });
    report(
      true,
      result,
      `head-only trial: ${JSON.stringify(result.hit)} on cached features vs ${JSON.stringify(result.uncached)} through the pipeline (${result.hitOverUncached}×)`,
    );
    return;
  }
  throw new FlagError('<benchmark>', `expected 'pipeline', 'train', 'kernels' or 'cache', got '${which ?? ''}'`);
}
