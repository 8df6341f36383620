// Every command's flags in one place: what each command parses and what `--help` prints come from these tables, so they
// cannot drift apart. The run flags (train, sweep) are generated from the config schema (src/config/config-flags.ts).

import { type FlagSpecs, runFlags } from '../src/config/config-flags.ts';

const backendHelp = { type: 'string', value: 'NAME', help: 'tfjs backend (default: the first of the ladder that works)' } as const;
const batchHelp = { type: 'string', value: 'N', help: 'images per forward pass (default 16)' } as const;

export const trainFlags: FlagSpecs = {
  ...runFlags,
  resume: { type: 'boolean', help: 'continue the run in --out from its latest checkpoint' },
};

export const sweepFlags = {
  trials: { type: 'string', value: 'N', help: 'trials to sample (default 8)' },
  eta: { type: 'string', value: 'X', help: 'successive-halving factor (default 3)' },
  'min-epochs': { type: 'string', value: 'N', help: 'epochs of the first rung (default 1)' },
  executor: { type: 'string', value: 'local|slurm', help: 'where trials run (default local: child processes on this machine)' },
  concurrency: { type: 'string', value: 'N', help: 'local: trials at once (default 1)' },
  'slurm-partition': { type: 'string', value: 'P', help: 'slurm: the partition trials run in' },
  'slurm-time': { type: 'string', value: 'T', help: "slurm: each trial's time limit (sbatch --time: 90, 1:30:00, 2-00:00:00)" },
  'slurm-gpus-per-trial': { type: 'string', value: 'N', help: 'slurm: GPUs per trial (--gres=gpu:N)' },
  'slurm-cpus-per-trial': { type: 'string', value: 'N', help: 'slurm: CPUs per trial (--cpus-per-task)' },
  'slurm-max-running': { type: 'string', value: 'K', help: "slurm: trials of a rung running at once (the array's %K)" },
  'slurm-args': { type: 'string', value: "'…'", help: "slurm: more sbatch arguments, passed through (e.g. '--mem=16G --qos=long')" },
  'slurm-poll-seconds': {
    type: 'string',
    value: 'S',
    help: 'slurm: how often the controller polls squeue and the trial folders (default 5)',
  },
  detach: { type: 'boolean', help: 'slurm: submit the controller itself as a 1-CPU job, print its job id and return' },
  trial: { type: 'string', value: 'N', help: 'run trial N of the sweep in --out (what each Slurm array task runs)' },
  ...runFlags,
} as const satisfies FlagSpecs;

export const inspectFlags = {
  'image-size': { type: 'string', value: 'N', help: 'side the images are planned at (default 600, at most 4096)' },
} as const satisfies FlagSpecs;

export const predictFlags = {
  model: { type: 'string', value: 'FOLDER', help: 'a model saved by streamfit train (runs/NAME/model)' },
  'batch-size': batchHelp,
  batch: { type: 'string', value: 'N', help: 'alias of --batch-size' },
  top: { type: 'string', value: 'N', help: 'classes listed per image (default 3)' },
  backend: backendHelp,
} as const satisfies FlagSpecs;

export const evaluateFlags = {
  model: { type: 'string', value: 'FOLDER', help: 'a model saved by streamfit train (runs/NAME/model)' },
  'batch-size': batchHelp,
  batch: { type: 'string', value: 'N', help: 'alias of --batch-size' },
  'top-k': { type: 'string', value: 'N', help: 'k of the top-k accuracy (default 5; left out when k ≥ the classes)' },
  backend: backendHelp,
} as const satisfies FlagSpecs;

export const planFlags = {
  model: { type: 'string', value: 'NAME', help: 'a built-in model (default efficientnet-b0)' },
  'image-size': { type: 'string', value: 'N', help: "input side (default: the model's resolution)" },
  'batch-size': { type: 'string', value: 'N', help: 'samples per optimizer update (default 32)' },
  batch: { type: 'string', value: 'N', help: 'alias of --batch-size' },
  memory: { type: 'string', value: 'SIZE', help: 'the budget (8GiB, 512MiB)' },
  optimizer: { type: 'string', value: 'NAME', help: 'adam | adamw | sgd | rmsprop (default adam): its slots count' },
  freeze: { type: 'string', value: 'MODE', help: 'none | all | top:K (blocks that train; default none)' },
  classes: { type: 'string', value: 'N', help: 'classes of the head (default 1000)' },
  measure: { type: 'boolean', help: 'run real steps at the planned micro-batch and add measuredPeakBytes' },
  alternatives: { type: 'boolean', help: 'plan every built-in model at its native resolution too' },
  backend: { type: 'string', value: 'NAME', help: 'backend for --measure (default: the ladder; cpu without --measure)' },
  workers: {
    type: 'string',
    value: 'N|auto',
    help: 'data-parallel workers whose host memory counts (default 1; auto: the physical cores)',
  },
} as const satisfies FlagSpecs;

export const modelsFlags = {} as const satisfies FlagSpecs;

export const weightsFlags = {
  model: { type: 'string', value: 'NAME', help: 'the built-in model the weights belong to' },
  out: { type: 'string', value: 'FOLDER', help: 'where the tfjs layers model is written' },
} as const satisfies FlagSpecs;

export const benchPipelineFlags = {
  images: { type: 'string', value: 'N', help: 'JPEGs to stream (default 400)' },
} as const satisfies FlagSpecs;

export const benchTrainFlags = {
  backend: { type: 'string', value: 'NAME', help: 'backend to time (default: the ladder)' },
  model: { type: 'string', value: 'NAME', help: 'a built-in model (default efficientnet-b0)' },
  'image-size': { type: 'string', value: 'N', help: 'input side (default 128)' },
  'batch-size': { type: 'string', value: 'N', help: 'samples per step (default 8)' },
  batch: { type: 'string', value: 'N', help: 'alias of --batch-size' },
  steps: { type: 'string', value: 'N', help: 'timed steps after the warm-up (default 3)' },
  'warmup-seconds': { type: 'string', value: 'S', help: 'untimed steps first, at least one, for S seconds (default 5)' },
  baseline: { type: 'string', value: 'NAME', help: 'the same steps on another backend, in a child process' },
  'baseline-steps': { type: 'string', value: 'N', help: 'steps of the baseline (default 1)' },
  pytorch: { type: 'boolean', help: 'the same steps in PyTorch (torchvision), when python3-torchvision is installed' },
  backward: { type: 'string', value: 'KIND', help: "lean (default: streamfit's backward pass) or autodiff (tfjs' own)" },
  recompute: { type: 'boolean', help: 'recompute block by block in the backward pass' },
  workers: { type: 'string', value: 'N', help: 'data-parallel workers (wasm, cpu), each on batch-size / N samples (default 1)' },
  'workers-baseline': { type: 'string', value: '1', help: 'also time 1 worker in the same run, step for step: speedupOverOneWorker' },
  ceiling: {
    type: 'boolean',
    help: "also time N processes side by side, each training one worker's micro-batch alone: what N cores allow (ceilingSpeedupOverOneWorker)",
  },
} as const satisfies FlagSpecs;

export const benchKernelsFlags = {
  backend: { type: 'string', value: 'NAME', help: 'webgpu (default: the WGSL kernels) or wasm (the compiled SIMD kernels)' },
  model: { type: 'string', value: 'NAME', help: 'wasm: the built-in model whose step’s calls are timed (default efficientnet-b0)' },
  'image-size': { type: 'string', value: 'N', help: 'input side (default 224 on webgpu, 128 on wasm)' },
  batch: { type: 'string', value: 'N', help: 'samples per pass (default 32 on webgpu, 8 on wasm)' },
  repeats: { type: 'string', value: 'N', help: 'timed repeats of each kernel (default 5)' },
} as const satisfies FlagSpecs;

export const backendsFlags = {} as const satisfies FlagSpecs;

export const benchCacheFlags = {
  data: { type: 'string', value: 'PATH', help: 'dataset (default fixtures/generated/shapes)' },
  'image-size': { type: 'string', value: 'N', help: 'input side (default 128)' },
  epochs: { type: 'string', value: 'N', help: 'epochs of each trial (default 5)' },
} as const satisfies FlagSpecs;
