// `streamfit bench pipeline|train|cache|kernels`: benchmarks that print JSON with their in-run baseline.

import { FlagError } from '../src/errors.ts';
import { aliasedFlag, intFlag, parseFlags, report } from './args.ts';
import { benchCacheFlags, benchKernelsFlags, benchPipelineFlags, benchTrainFlags } from './flags.ts';

export async function benchCommand(argv: string[]): Promise<void> {
  const [which, ...rest] = argv;
  if (which === 'pipeline') {
    const { values } = parseFlags(rest, benchPipelineFlags);
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
    const { values } = parseFlags(rest, benchTrainFlags);
    const { benchTrain, benchTrainInChild, benchIndependentProcesses, benchPytorch, machine } = await import('../bench/train.ts');
    const backward = values.backward ?? 'lean';
    if (backward !== 'lean' && backward !== 'autodiff') throw new FlagError('--backward', `expected lean or autodiff, got '${backward}'`);
    const options = {
      backend: values.backend ?? process.env.STREAMFIT_BACKEND,
      model: values.model ?? 'efficientnet-b0',
      imageSize: intFlag(values['image-size'], '--image-size', 128, 32),
      batchSize: intFlag(aliasedFlag(values, 'batch-size', 'batch'), '--batch-size', 8),
      steps: intFlag(values.steps, '--steps', 3),
      warmupSeconds: intFlag(values['warmup-seconds'], '--warmup-seconds', 5, 0),
      backward: backward as 'lean' | 'autodiff',
      recompute: Boolean(values.recompute),
      workers: intFlag(values.workers, '--workers', 1, 1),
      workersBaseline: values['workers-baseline'] !== undefined,
    };
    if (values['workers-baseline'] !== undefined && values['workers-baseline'] !== '1')
      throw new FlagError(
        '--workers-baseline',
        `the baseline is one worker: pass --workers-baseline 1, got '${values['workers-baseline']}'`,
      );
    if (options.batchSize % options.workers !== 0)
      throw new FlagError(
        '--workers',
        `${options.workers} workers need --batch-size ${options.batchSize} to split into ${options.workers} equal micro-batches`,
      );
    if (values.ceiling && options.workers < 2)
      throw new FlagError('--ceiling', 'times as many processes as workers, each on one micro-batch: pass --workers N with N ≥ 2');
    const result: Record<string, unknown> = { bench: 'train', machine: machine(), ...(await benchTrain(options)) };
    const workers = options.workers > 1 ? ` with ${options.workers} workers of micro-batch ${result.microBatch}` : '';
    const lines = [
      `${result.backend}${workers}: ${result.msPerStep} ms a step (${result.cpuMsPerStep} ms of CPU), ${result.imagesPerSec} images/s`,
    ];
    const one = result.oneWorker as { msPerStep: number } | undefined;
    if (one) lines.push(`1 worker: ${one.msPerStep} ms a step → ${result.speedupOverOneWorker}× faster with ${options.workers}`);
    if (result.gpuBytesAfter !== undefined)
      lines.push(`GPU bytes: ${result.gpuBytesBefore} held before, ${result.gpuBytesAfter} after, peak in use ${result.gpuPeakBytes}`);
    if (result.dispatchesPerStep !== undefined)
      lines.push(
        `per step: ${result.dispatchesPerStep} dispatches, ${result.submitsPerStep} submits, ${result.buffersCreatedPerStep} buffers created`,
      );
    if (values.ceiling) {
      // After the workers' steps, not during them: the processes take every core the workers had.
      const independent = await benchIndependentProcesses({ ...options, backend: result.backend as string }, process.argv[1]);
      result.independent = independent;
      if ('unavailable' in independent) lines.push(`--ceiling: ${independent.unavailable}`);
      else {
        let ceiling = '';
        if (one) {
          result.ceilingSpeedupOverOneWorker = Number((one.msPerStep / independent.slowestMsPerStep).toFixed(2));
          ceiling = ` → at most ${result.ceilingSpeedupOverOneWorker}× over 1 worker on this machine`;
        }
        lines.push(
          `${independent.processes} processes of micro-batch ${independent.microBatch} side by side: ${independent.msPerStep.join(', ')} ms a step${ceiling}`,
        );
      }
    }
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
      // On a GPU backend PyTorch runs on the GPU too (fp32 eager and autocast); on a CPU backend, on the same cores.
      const pytorch = benchPytorch(options, result.backend === 'webgpu' || result.backend === 'tfjs-node-gpu' ? 'auto' : 'cpu');
      result.pytorch = pytorch;
      if ('msPerStep' in pytorch) {
        result.ratioToPytorch = Number(((result.msPerStep as number) / pytorch.msPerStep).toFixed(2));
        for (const run of pytorch.results) {
          lines.push(
            run.msPerStep === undefined
              ? `PyTorch ${run.precision}: ${run.unavailable}`
              : `PyTorch ${pytorch.version} ${run.precision} on ${pytorch.deviceName}: ${run.msPerStep.toFixed(1)} ms a step → streamfit takes ${((result.msPerStep as number) / run.msPerStep).toFixed(2)}× as long`,
          );
        }
      } else lines.push(pytorch.unavailable);
    }
    report(true, result, lines.join('\n'));
    return;
  }
  if (which === 'cache') {
    const { values } = parseFlags(rest, benchCacheFlags);
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
  if (which === 'kernels') {
    const { values } = parseFlags(rest, benchKernelsFlags);
    const backend = values.backend ?? 'webgpu';
    if (backend === 'wasm') {
      // The compiled SIMD kernels against the implementations they replaced, on the calls of one CPU-sized step.
      const { benchWasmKernels } = await import('../bench/wasm-kernels.ts');
      const result = await benchWasmKernels({
        model: values.model ?? 'efficientnet-b0',
        imageSize: intFlag(values['image-size'], '--image-size', 128, 32),
        batch: intFlag(values.batch, '--batch', 8),
        repeats: intFlag(values.repeats, '--repeats', 5),
      });
      const lines = result.kernels.map(
        (line) =>
          `${line.kernel}: ${line.compiledMs} ms vs ${line.baselineMs} ms (${line.baseline}) → ×${line.speedup}, ${line.calls} calls`,
      );
      lines.push(
        `all: ${result.total.compiledMs} ms vs ${result.total.baselineMs} ms a step → ×${result.total.speedup} (load ${result.loadAverage[0]})`,
      );
      report(values.json, result, lines.join('\n'));
      return;
    }
    if (backend !== 'webgpu') throw new FlagError('--backend', `bench kernels measures 'webgpu' or 'wasm', got '${backend}'`);
    const { benchWebgpuKernels } = await import('../bench/webgpu-kernels.ts');
    const result = await benchWebgpuKernels({
      imageSize: intFlag(values['image-size'], '--image-size', 224, 32),
      batch: intFlag(values.batch, '--batch', 32),
      repeats: intFlag(values.repeats, '--repeats', 5),
    });
    const lines = result.kernels.map(
      (k) =>
        `${k.label.padEnd(30)} tfjs ${String(k.tfjsMs).padStart(9)} ms   streamfit ${String(k.streamfitMs).padStart(9)} ms   ×${k.speedup}`,
    );
    report(values.json, { bench: 'kernels', machine: (await import('../bench/train.ts')).machine(), ...result }, lines.join('\n'));
    return;
  }
  throw new FlagError('<benchmark>', `expected 'pipeline', 'train', 'cache' or 'kernels', got '${which ?? ''}'`);
}
