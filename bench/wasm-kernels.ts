// Benchmark: each compiled wasm kernel (src/kernels/assembly/) against the implementation it replaced, on the shapes of an
// EfficientNet training step's layers (B0, 128 px, batch 8 by default; one call per layer a kernel serves, as tfjs' autodiff
// makes them). Baseline and compiled runs alternate in the same process, so a busy machine slows both alike; each line also
// reports how far apart their results are.

import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { fusedUpdate } from '../src/kernels/fused-update.ts';
import { replacedWasmKernels } from '../src/kernels/register.ts';
import { swishGradientWasm } from '../src/kernels/swish-gradient.ts';
import { createModel } from '../src/models/create-model.ts';
import {
  baselineConv2dBackpropFilter,
  baselineDepthwiseBackpropFilter,
  baselineDepthwiseBackpropInput,
  baselinePointwiseBackpropInput,
} from './baseline-kernels.ts';
import { machine } from './train.ts';

export interface WasmKernelBenchOptions {
  model: string;
  imageSize: number;
  batch: number;
  repeats: number;
}

export interface KernelLine {
  kernel: string;
  baseline: string;
  /** Calls timed per repeat: one per layer the kernel serves (or one optimizer update). */
  calls: number;
  /** Median over the repeats of the time all calls of one step take. */
  baselineMs: number;
  compiledMs: number;
  speedup: number;
  /** max |compiled − baseline| / max |baseline| over all calls. */
  relativeDifference: number;
}

export interface WasmKernelBenchResult {
  bench: 'kernels';
  machine: Record<string, unknown>;
  loadAverage: number[];
  model: string;
  imageSize: number;
  batch: number;
  repeats: number;
  kernels: KernelLine[];
  total: { baselineMs: number; compiledMs: number; speedup: number };
}

interface Call {
  inputs: Record<string, tf.Tensor>;
  attrs: Record<string, unknown>;
}

interface Family {
  kernel: string;
  baselineName: string;
  baseline: tf.KernelConfig;
  compiled: tf.KernelConfig;
  calls: Call[];
  /** An input that is a new tensor at every run, as a filter is after every update (XNNPACK packs each new filter). */
  fresh?: string;
}

interface ConvLayer {
  depthwise: boolean;
  input: number[];
  output: number[];
  filter: [number, number, number, number];
  strides: number;
  pad: 'same' | 'valid';
}

interface Padding {
  input: number[];
  output: number[];
  begin: number[];
}

/** The (unpadded) input and padded output shapes of the model's ZeroPadding2D layers, past the stem (whose gradient is not needed). */
function paddings(model: tf.LayersModel, batch: number): Padding[] {
  return model.layers
    .filter((layer) => layer.getClassName() === 'ZeroPadding2D' && !layer.name.startsWith('stem'))
    .map((layer) => {
      const [[top], [left]] = (layer.getConfig() as { padding: [[number, number], [number, number]] }).padding;
      return {
        input: [batch, ...(layer.input as tf.SymbolicTensor).shape.slice(1)] as number[],
        output: [batch, ...(layer.output as tf.SymbolicTensor).shape.slice(1)] as number[],
        begin: [0, top, left, 0],
      };
    });
}

/** The convolutions of the model with their shapes at this batch size. */
function convLayers(model: tf.LayersModel, batch: number): ConvLayer[] {
  const layers: ConvLayer[] = [];
  for (const layer of model.layers) {
    const className = layer.getClassName();
    if (className !== 'Conv2D' && className !== 'DepthwiseConv2D') continue;
    const config = layer.getConfig() as {
      kernelSize: number[];
      strides: number[];
      padding: 'same' | 'valid';
      filters?: number;
      depthMultiplier?: number;
    };
    const input = [batch, ...(layer.input as tf.SymbolicTensor).shape.slice(1)] as number[];
    const output = [batch, ...(layer.output as tf.SymbolicTensor).shape.slice(1)] as number[];
    const [height, width] = config.kernelSize;
    const depthwise = className === 'DepthwiseConv2D';
    const filter: [number, number, number, number] = [height, width, input[3], depthwise ? (config.depthMultiplier ?? 1) : config.filters!];
    layers.push({ depthwise, input, output, filter, strides: config.strides[0], pad: config.padding });
  }
  return layers;
}

function families(layers: ConvLayer[], padded: Padding[]): Family[] {
  const random = (shape: number[]) => tf.randomUniform(shape, -1, 1);
  const depthwise = layers.filter((layer) => layer.depthwise);
  const conv = layers.filter((layer) => !layer.depthwise);
  const kernel = (name: string) => tf.getKernel(name, 'wasm')!;
  const original = (name: string) => replacedWasmKernels.get(name)!;
  const common = (layer: ConvLayer) => ({ strides: layer.strides, pad: layer.pad, dilations: 1 });
  // BatchNorm statistics and gradient sums run over N·H·W of every convolution's output; squeeze-excite pools H·W.
  const reductions = (name: 'Sum' | 'Mean'): Call[] => [
    ...layers.map((layer) => ({ inputs: { x: random(layer.output) }, attrs: { axis: [0, 1, 2], keepDims: false } })),
    ...(name === 'Mean'
      ? depthwise.map((layer) => ({ inputs: { x: random(layer.output) }, attrs: { axis: [1, 2], keepDims: true } }))
      : []),
  ];
  return [
    {
      kernel: 'DepthwiseConv2dNativeBackpropFilter',
      baselineName: 'JS loops on the heap',
      baseline: baselineDepthwiseBackpropFilter,
      compiled: kernel('DepthwiseConv2dNativeBackpropFilter'),
      calls: depthwise.map((layer) => ({
        inputs: { x: random(layer.input), dy: random(layer.output) },
        attrs: { ...common(layer), filterShape: layer.filter },
      })),
    },
    {
      kernel: 'DepthwiseConv2dNativeBackpropInput',
      baselineName: 'pad + reverse + XNNPACK depthwise conv',
      baseline: baselineDepthwiseBackpropInput,
      compiled: kernel('DepthwiseConv2dNativeBackpropInput'),
      calls: depthwise.map((layer) => ({
        inputs: { dy: random(layer.output), filter: random(layer.filter) },
        attrs: { ...common(layer), inputShape: layer.input },
      })),
    },
    {
      kernel: 'Conv2DBackpropFilter',
      baselineName: 'transpose + matMul (1×1), JS loops (stem)',
      baseline: baselineConv2dBackpropFilter,
      compiled: kernel('Conv2DBackpropFilter'),
      calls: conv.map((layer) => ({
        inputs: { x: random(layer.input), dy: random(layer.output) },
        attrs: { strides: layer.strides, pad: layer.pad, dataFormat: 'NHWC', filterShape: layer.filter },
      })),
    },
    {
      kernel: 'Conv2DBackpropInput',
      baselineName: 'transpose + matMul (1×1)',
      baseline: baselinePointwiseBackpropInput(original('Conv2DBackpropInput')),
      compiled: kernel('Conv2DBackpropInput'),
      // The stem's input gradient is never needed (its input is the image).
      calls: conv
        .filter((layer) => layer.filter[0] === 1)
        .map((layer) => ({
          inputs: { dy: random(layer.output), filter: random(layer.filter) },
          attrs: { strides: layer.strides, pad: layer.pad, dataFormat: 'NHWC', inputShape: layer.input },
        })),
    },
    {
      kernel: 'FusedConv2D (1×1)',
      baselineName: 'XNNPACK, the filter new since its last use (packed again), as in training',
      baseline: original('FusedConv2D'),
      compiled: kernel('FusedConv2D'),
      calls: conv
        .filter((layer) => layer.filter[0] === 1)
        .map((layer) => ({
          inputs: { x: random(layer.input), filter: random(layer.filter) },
          attrs: { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, activation: 'linear' },
        })),
      fresh: 'filter',
    },
    {
      kernel: 'FusedBatchNorm',
      baselineName: "tfjs-wasm's (broadcast indices per element)",
      baseline: original('FusedBatchNorm'),
      compiled: kernel('FusedBatchNorm'),
      // Every convolution but squeeze-excite's (1×1 spatial, with a bias) is followed by BatchNorm.
      calls: layers
        .filter((layer) => layer.output[1] > 1)
        .map((layer) => {
          const channels = layer.output[3];
          const [mean, variance, offset, scale] = [
            random([channels]),
            tf.randomUniform([channels], 0.5, 2),
            random([channels]),
            random([channels]),
          ];
          return { inputs: { x: random(layer.output), mean, variance, offset, scale }, attrs: { varianceEpsilon: 1e-3 } };
        }),
    },
    {
      kernel: 'Slice',
      baselineName: "tfjs-wasm's (copies the input out, then one row at a time)",
      baseline: original('Slice'),
      compiled: kernel('Slice'),
      // ZeroPadding2D's gradient: the padded gradient cut back to the layer's input.
      calls: padded.map(({ input, output, begin }) => ({ inputs: { x: random(output) }, attrs: { begin, size: input } })),
    },
    {
      kernel: 'Sum',
      baselineName: "tfjs-wasm's (transpose, then sum)",
      baseline: original('Sum'),
      compiled: kernel('Sum'),
      calls: reductions('Sum'),
    },
    {
      kernel: 'Mean',
      baselineName: "tfjs-wasm's (transpose, then mean)",
      baseline: original('Mean'),
      compiled: kernel('Mean'),
      calls: reductions('Mean'),
    },
  ];
}

function runAll(config: tf.KernelConfig, calls: Call[], fresh?: string): number {
  const backend = tf.backend();
  // New tensors with the same values, made before the clock starts.
  const runCalls = fresh ? calls.map((call) => ({ ...call, inputs: { ...call.inputs, [fresh]: tf.clone(call.inputs[fresh]) } })) : calls;
  const start = performance.now();
  for (const call of runCalls) {
    const output = config.kernelFunc({ inputs: call.inputs, backend, attrs: call.attrs as never }) as tf.TensorInfo;
    backend.disposeData(output.dataId);
  }
  const elapsed = performance.now() - start;
  if (fresh) tf.dispose(runCalls.map((call) => call.inputs[fresh]));
  return elapsed;
}

/** The largest difference between the two implementations' outputs over all calls, relative to the baseline's largest value. */
function difference(family: Family): number {
  const backend = tf.backend();
  let worst = 0;
  for (const call of family.calls) {
    const [expected, actual] = [family.baseline, family.compiled].map((config) => {
      const info = config.kernelFunc({ inputs: call.inputs, backend, attrs: call.attrs as never }) as tf.TensorInfo;
      const values = backend.readSync(info.dataId) as Float32Array;
      backend.disposeData(info.dataId);
      return values;
    });
    let difference = 0;
    let scale = 0;
    for (let i = 0; i < expected.length; i++) {
      difference = Math.max(difference, Math.abs(actual[i] - expected[i]));
      scale = Math.max(scale, Math.abs(expected[i]));
    }
    worst = Math.max(worst, difference / scale);
  }
  return worst;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Adam over all trainable variables: tfjs' applyGradients (several kernels per variable) against one fused call. */
function optimizerLine(model: tf.LayersModel, repeats: number): KernelLine {
  const variables = model.trainableWeights.map((weight) => (weight as unknown as { val: tf.Variable }).val);
  const gradients: tf.NamedTensorMap = Object.fromEntries(
    variables.map((variable) => [variable.name, tf.randomUniform(variable.shape, -1e-3, 1e-3)]),
  );
  const baseline = tf.train.adam(1e-3);
  const compiled = tf.train.adam(1e-3);
  const timed = (update: () => void) => {
    const start = performance.now();
    update();
    return performance.now() - start;
  };
  const runBaseline = () => timed(() => baseline.applyGradients(gradients as never));
  const runCompiled = () =>
    timed(() => {
      if (!fusedUpdate(compiled, gradients)) throw new Error('the fused update did not run on this backend');
    });
  runBaseline();
  runCompiled();
  const baselineTimes: number[] = [];
  const compiledTimes: number[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    baselineTimes.push(runBaseline());
    compiledTimes.push(runCompiled());
  }
  tf.dispose(Object.values(gradients));
  baseline.dispose();
  compiled.dispose();
  const [baselineMs, compiledMs] = [median(baselineTimes), median(compiledTimes)];
  return {
    kernel: `Adam update (${variables.length} variables)`,
    baseline: "tfjs' applyGradients",
    calls: 1,
    baselineMs: round(baselineMs),
    compiledMs: round(compiledMs),
    speedup: round(baselineMs / compiledMs),
    // Equality with tfjs' optimizers, bit for bit, is what test/fused-update.test.ts asserts.
    relativeDifference: 0,
  };
}

/** swish's gradient over the model's swish layers: tfjs' sigmoid and five elementwise kernels against one compiled pass. */
function swishLine(model: tf.LayersModel, batch: number, repeats: number): KernelLine {
  const shapes = model.layers
    .filter((layer) => (layer.getConfig() as { activation?: string }).activation === 'swish')
    .map((layer) => [batch, ...(layer.output as tf.SymbolicTensor).shape.slice(1)] as number[]);
  const pairs = shapes.map((shape) => ({ x: tf.randomUniform(shape, -6, 6), dy: tf.randomUniform(shape, -1, 1) }));
  const baseline = (x: tf.Tensor, dy: tf.Tensor) =>
    tf.tidy(() => {
      const sigmoid = tf.sigmoid(x);
      return tf.mul(tf.mul(dy, sigmoid), tf.add(tf.mul(tf.sub(1, sigmoid), x), 1));
    });
  const compiled = (x: tf.Tensor, dy: tf.Tensor) => swishGradientWasm(dy, x)!;
  const run = (gradient: typeof baseline) => {
    const start = performance.now();
    for (const { x, dy } of pairs) gradient(x, dy).dispose();
    return performance.now() - start;
  };
  let relativeDifference = 0;
  for (const { x, dy } of pairs) {
    const [expected, actual] = [baseline(x, dy), compiled(x, dy)];
    const [e, a] = [expected.dataSync(), actual.dataSync()];
    let [difference, scale] = [0, 0];
    for (let i = 0; i < e.length; i++) {
      difference = Math.max(difference, Math.abs(a[i] - e[i]));
      scale = Math.max(scale, Math.abs(e[i]));
    }
    relativeDifference = Math.max(relativeDifference, difference / scale);
    tf.dispose([expected, actual]);
  }
  const baselineTimes: number[] = [];
  const compiledTimes: number[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    baselineTimes.push(run(baseline));
    compiledTimes.push(run(compiled));
  }
  tf.dispose(pairs.flatMap(({ x, dy }) => [x, dy]));
  const [baselineMs, compiledMs] = [median(baselineTimes), median(compiledTimes)];
  return {
    kernel: `swish gradient (${shapes.length} layers)`,
    baseline: "tfjs' sigmoid and five elementwise kernels",
    calls: shapes.length,
    baselineMs: round(baselineMs),
    compiledMs: round(compiledMs),
    speedup: round(baselineMs / compiledMs),
    relativeDifference: Number(relativeDifference.toPrecision(2)),
  };
}

export async function benchWasmKernels(options: WasmKernelBenchOptions): Promise<WasmKernelBenchResult> {
  await selectBackend('wasm');
  const { model } = await createModel(options.model, { classes: 10, imageSize: options.imageSize, freeze: 'none' });
  const kernels: KernelLine[] = [];
  for (const family of families(convLayers(model, options.batch), paddings(model, options.batch))) {
    const relativeDifference = difference(family); // also the warm-up
    const baselineTimes: number[] = [];
    const compiledTimes: number[] = [];
    for (let repeat = 0; repeat < options.repeats; repeat++) {
      baselineTimes.push(runAll(family.baseline, family.calls, family.fresh));
      compiledTimes.push(runAll(family.compiled, family.calls, family.fresh));
    }
    for (const call of family.calls) tf.dispose(Object.values(call.inputs));
    const [baselineMs, compiledMs] = [median(baselineTimes), median(compiledTimes)];
    kernels.push({
      kernel: family.kernel,
      baseline: family.baselineName,
      calls: family.calls.length,
      baselineMs: round(baselineMs),
      compiledMs: round(compiledMs),
      speedup: round(baselineMs / compiledMs),
      relativeDifference: Number(relativeDifference.toPrecision(2)),
    });
  }
  kernels.push(swishLine(model, options.batch, options.repeats));
  kernels.push(optimizerLine(model, options.repeats));
  model.dispose();
  const baselineMs = kernels.reduce((sum, line) => sum + line.baselineMs, 0);
  const compiledMs = kernels.reduce((sum, line) => sum + line.compiledMs, 0);
  return {
    bench: 'kernels',
    machine: machine(),
    loadAverage: loadavg().map((value) => round(value)),
    ...options,
    kernels,
    total: { baselineMs: round(baselineMs), compiledMs: round(compiledMs), speedup: round(baselineMs / compiledMs) },
  };
}

function round(value: number): number {
  return Number(value.toFixed(2));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = {
    model: 'efficientnet-b0',
    imageSize: 128,
    batch: 8,
    repeats: 5,
    ...(JSON.parse(process.argv[2] ?? '{}') as Partial<WasmKernelBenchOptions>),
  };
  process.stdout.write(`${JSON.stringify(await benchWasmKernels(options))}\n`);
}
