// The `streamfit` command: dispatches to one module per command and turns errors into one line and a non-zero exit.

import { StreamfitError } from '../src/errors.ts';
import { commandHelp } from './help.ts';

const commands: Record<string, () => Promise<(argv: string[]) => Promise<void>>> = {
  inspect: async () => (await import('./inspect.ts')).inspectCommand,
  bench: async () => (await import('./bench.ts')).benchCommand,
  models: async () => (await import('./models.ts')).modelsCommand,
  train: async () => (await import('./train.ts')).trainCommand,
  predict: async () => (await import('./predict.ts')).predictCommand,
  plan: async () => (await import('./plan.ts')).planCommand,
  sweep: async () => (await import('./sweep.ts')).sweepCommand,
  weights: async () => (await import('./weights.ts')).weightsCommand,
  evaluate: async () => (await import('./evaluate.ts')).evaluateCommand,
  backends: async () => (await import('./backends.ts')).backendsCommand,
};

const usage = `usage: streamfit <command> [flags] [--json]
commands:
  inspect <folder|manifest|tar pattern> [--image-size N]   decode every image, report classes and quarantined files
  train [--config pipelines/x.ts] [--data path] [--model efficientnet-b0] [--image-size N] [--epochs N]
        [--batch-size N] [--micro-batch N] [--optimizer adam|adamw|sgd|rmsprop] [--lr X] [--weights folder]
        [--memory 8GiB] [--backend wasm|cpu|webgpu|tfjs-node|tfjs-node-gpu] [--out runs/NAME] [--resume]
  sweep [--config pipelines/sweep.ts] [--trials N] [--concurrency N] [--eta 3] [--min-epochs 1] [--out runs/NAME] (+ train's data and model flags)
        [--executor local|slurm] [--slurm-partition P] [--slurm-gpus-per-trial N] [--detach] … (streamfit sweep --help lists them)
  predict --model runs/NAME/model <folder|manifest|tar> [--top N]   class probabilities per image
  evaluate --model runs/NAME/model <labelled dataset> [--top-k N]   accuracy, top-k, confusion matrix
  plan --model efficientnet-b7 --image-size 600 --batch-size 32 --memory 8GiB [--optimizer adam] [--freeze none|all|top:K] [--measure] [--alternatives]
  models                                                   list the built-in models (EfficientNet, ResNet, VGG, Inception, MobileNet)
  backends                                                 the backend ladder: what can start here, why not, the WebGPU adapter
  weights import <keras.h5> --model <name> --out folder   Keras weights → tfjs layers format (for --weights)
  bench pipeline [--images N]                              data pipeline throughput and memory against sharp alone
  bench train [--backend wasm] [--model efficientnet-b0] [--image-size 128] [--batch-size 8] [--steps 3] [--baseline cpu] [--pytorch]
  bench kernels [--image-size 224] [--batch 32] [--repeats 5]   webgpu: streamfit's WGSL training kernels against tfjs' own
  bench kernels --backend wasm [--image-size 128] [--batch 8] [--repeats 5]   the compiled wasm kernels against those they replaced
  bench cache [--data path] [--image-size 128] [--epochs 5]  head-only trial on cached features vs through the pipeline
streamfit <command> --help lists every flag of a command.`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === 'help') {
    process.stderr.write(`${usage}\n`);
    return name ? 0 : 1;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`streamfit: unknown command '${name}'\n${usage}\n`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${commandHelp[name]}\n`);
    return 0;
  }
  try {
    await (await load())(rest);
    return typeof process.exitCode === 'number' ? process.exitCode : 0; // a command may set its own (130 after SIGINT)
  } catch (error) {
    // One line, always: a rethrown error would reach tfjs-wasm's uncaught-exception hook, which prints its whole source.
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    process.stderr.write(`streamfit: ${error instanceof StreamfitError ? '' : 'error: '}${message}\n`);
    if (process.env.STREAMFIT_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
