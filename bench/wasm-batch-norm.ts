// Benchmark: BatchNorm's training computations on wasm as compiled kernels (src/kernels/channel-moments.ts,
// batch-norm-backward.ts, moving-statistics.ts, FusedBatchNorm) against the tfjs op chains they replaced, on the shapes of
// an EfficientNet step's BatchNorm layers (B0, 128 px, batch 8 by default; one call per layer), JavaScript included: the
// kernel calls' fixed cost is what the fusion removes. Baseline and compiled runs alternate in the same process, so a busy
// machine slows both alike; each line also reports how far apart their results are.
//   npx tsx bench/wasm-batch-norm.ts '{"imageSize":128,"batch":8}'

import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { batchNormBackwardWasm } from '../src/kernels/batch-norm-backward.ts';
import { batchNormalizeByChannel } from '../src/kernels/batch-normalize.ts';
import { channelMomentsWasm } from '../src/kernels/channel-moments.ts';
import { updateMovingStatisticsWasm } from '../src/kernels/moving-statistics.ts';
import { after, channelAffine } from '../src/memory/lean-backward/tensor-views.ts';
import { createModel } from '../src/models/create-model.ts';
import { machine } from './train.ts';

interface Options {
  model: string;
  imageSize: number;
  batch: number;
  repeats: number;
}

interface Layer {
  x: tf.Tensor;
  dy: tf.Tensor;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  gamma: tf.Tensor1D;
  beta: tf.Tensor1D;
  movingMean: tf.Variable;
  movingVariance: tf.Variable;
}

interface Line {
  computation: string;
  baseline: string;
  calls: number;
  /** Kernel calls per layer (baseline, compiled), counted on the engine. */
  kernelCalls: [number, number];
  baselineMs: number;
  compiledMs: number;
  speedup: number;
  /** max |compiled − baseline| / max |baseline| over all layers' outputs. */
  relativeDifference: number;
}

const epsilon = 1e-3;

/** The lean backward pass's tfjs ops before the compiled kernel (rules/batch-normalization.ts, its cpu path). */
function backwardOps(layer: Layer): tf.Tensor[] {
  const { dy, x, mean, variance, gamma } = layer;
  const axes = dy.shape.slice(0, -1).map((_, axis) => axis);
  const count = dy.size / dy.shape[dy.rank - 1];
  const [inverseDeviation, shift] = tf.tidy(() => {
    const inverse = tf.rsqrt(tf.add(variance, epsilon));
    return [inverse, tf.neg(tf.mul(mean, inverse))];
  });
  const normalized = after([inverseDeviation, shift], () => channelAffine(x, inverseDeviation, shift));
  const dBeta = tf.sum(dy, axes);
  const product = tf.mul(dy, normalized);
  const dGamma = after(product, () => tf.sum(product, axes));
  const [dyScale, normalizedScale, offset] = tf.tidy(() => {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, epsilon)));
    return [scale, tf.neg(tf.mul(scale, tf.div(dGamma, count))), tf.neg(tf.mul(scale, tf.div(dBeta, count)))];
  });
  const scaledNormalized = after([normalized, normalizedScale], () => tf.mul(normalized, normalizedScale));
  const fromNormalized = after([scaledNormalized, offset], () => tf.add(scaledNormalized, offset));
  const fromDy = after(dyScale, () => tf.mul(dy, dyScale));
  return [after([fromDy, fromNormalized], () => tf.add(fromDy, fromNormalized)), dGamma, dBeta];
}

/** The lean rebuild's tfjs ops before FusedBatchNorm: a per-channel affine map. */
function rebuildOps({ x, mean, variance, gamma, beta }: Layer): tf.Tensor[] {
  const [scale, offset] = tf.tidy(() => {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, epsilon)));
    return [scale, tf.sub(beta, tf.mul(mean, scale))];
  });
  return [after([scale, offset], () => channelAffine(x, scale, offset))];
}

const computations: Array<{ name: string; baseline: string; ops: (layer: Layer) => tf.Tensor[]; compiled: (layer: Layer) => tf.Tensor[] }> =
  [
    {
      name: 'moments',
      baseline: 'tf.moments',
      ops: ({ x }) => Object.values(tf.moments(x, [0, 1, 2])),
      compiled: ({ x }) => Object.values(channelMomentsWasm(x)),
    },
    {
      name: 'rebuild (the normalization)',
      baseline: 'a per-channel affine map (its factors, then mul and add)',
      ops: rebuildOps,
      compiled: ({ x, mean, variance, gamma, beta }) => [batchNormalizeByChannel(x, mean, variance, beta, gamma, epsilon)],
    },
    {
      name: 'backward (dx, dγ, dβ)',
      baseline: "the lean backward pass's tfjs ops",
      ops: backwardOps,
      compiled: ({ dy, x, mean, variance, gamma }) => {
        const { dx, dGamma, dBeta } = batchNormBackwardWasm(dy, x, mean, variance, gamma, epsilon, true);
        return [dx!, dGamma, dBeta];
      },
    },
    {
      name: 'moving statistics',
      baseline: "tfjs-layers' update as ops",
      ops: ({ movingMean, movingVariance, mean, variance }) => {
        tf.tidy(() => {
          for (const [variable, batch] of [
            [movingMean, mean],
            [movingVariance, variance],
          ] as const)
            variable.assign(tf.sub(variable, tf.mul(tf.sub(variable, batch), 1 - 0.99)));
        });
        return [];
      },
      compiled: ({ movingMean, movingVariance, mean, variance }) => {
        updateMovingStatisticsWasm(movingMean, movingVariance, mean, variance, 0.99);
        return [];
      },
    },
  ];

function timed(layers: Layer[], run: (layer: Layer) => tf.Tensor[]): number {
  const start = performance.now();
  for (const layer of layers) tf.dispose(run(layer));
  return performance.now() - start;
}

function kernelCalls(layer: Layer, run: (layer: Layer) => tf.Tensor[]): number {
  const engine = tf.engine() as unknown as { runKernel: (...args: unknown[]) => unknown };
  const original = engine.runKernel;
  let calls = 0;
  engine.runKernel = (...args: unknown[]) => {
    calls++;
    return original.apply(engine, args);
  };
  try {
    tf.dispose(run(layer));
  } finally {
    engine.runKernel = original;
  }
  return calls;
}

function difference(layers: Layer[], baseline: (layer: Layer) => tf.Tensor[], compiled: (layer: Layer) => tf.Tensor[]): number {
  let worst = 0;
  for (const layer of layers) {
    const [expected, actual] = [baseline, compiled].map((run) => {
      const outputs = run(layer);
      const values = outputs.map((tensor) => tensor.dataSync() as Float32Array);
      tf.dispose(outputs);
      return values;
    });
    expected.forEach((values, k) => {
      let [most, scale] = [0, 0];
      values.forEach((value, i) => {
        most = Math.max(most, Math.abs(actual[k][i] - value));
        scale = Math.max(scale, Math.abs(value));
      });
      worst = Math.max(worst, most / scale);
    });
  }
  return worst;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const round = (value: number) => Number(value.toFixed(2));

export async function benchWasmBatchNorm(options: Options): Promise<Record<string, unknown>> {
  await selectBackend('wasm');
  const { model } = await createModel(options.model, { classes: 10, imageSize: options.imageSize, freeze: 'none' });
  const layers: Layer[] = model.layers
    .filter((layer) => layer.getClassName() === 'BatchNormalization')
    .map((layer) => {
      const shape = [options.batch, ...(layer.input as tf.SymbolicTensor).shape.slice(1)] as number[];
      const channels = shape[shape.length - 1];
      const x = tf.randomUniform(shape, -1, 3);
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return {
        x,
        dy: tf.randomUniform(shape, -1, 1),
        mean: mean as tf.Tensor1D,
        variance: variance as tf.Tensor1D,
        gamma: tf.randomUniform([channels], 0.5, 1.5) as tf.Tensor1D,
        beta: tf.randomUniform([channels], -1, 1) as tf.Tensor1D,
        movingMean: tf.variable(tf.zeros([channels]), false),
        movingVariance: tf.variable(tf.ones([channels]), false),
      };
    });
  model.dispose();
  const lines: Line[] = [];
  for (const computation of computations) {
    const relativeDifference = computation.name === 'moving statistics' ? 0 : difference(layers, computation.ops, computation.compiled);
    const kernelCallCounts: [number, number] = [kernelCalls(layers[0], computation.ops), kernelCalls(layers[0], computation.compiled)];
    const [baselineTimes, compiledTimes]: number[][] = [[], []];
    for (let repeat = 0; repeat < options.repeats; repeat++) {
      baselineTimes.push(timed(layers, computation.ops));
      compiledTimes.push(timed(layers, computation.compiled));
    }
    const [baselineMs, compiledMs] = [median(baselineTimes), median(compiledTimes)];
    lines.push({
      computation: computation.name,
      baseline: computation.baseline,
      calls: layers.length,
      kernelCalls: kernelCallCounts,
      baselineMs: round(baselineMs),
      compiledMs: round(compiledMs),
      speedup: round(baselineMs / compiledMs),
      // The moving statistics equal tfjs' ops bit for bit (test/wasm-batch-norm.test.ts).
      relativeDifference: Number(relativeDifference.toPrecision(2)),
    });
  }
  for (const layer of layers) tf.dispose(Object.values(layer));
  const baselineMs = lines.reduce((sum, line) => sum + line.baselineMs, 0);
  const compiledMs = lines.reduce((sum, line) => sum + line.compiledMs, 0);
  return {
    bench: 'wasm-batch-norm',
    machine: machine(),
    loadAverage: loadavg().map(round),
    ...options,
    lines,
    total: { baselineMs: round(baselineMs), compiledMs: round(compiledMs), speedup: round(baselineMs / compiledMs) },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const options: Options = { model: 'efficientnet-b0', imageSize: 128, batch: 8, repeats: 7, ...JSON.parse(process.argv[2] ?? '{}') };
  process.stdout.write(`${JSON.stringify(await benchWasmBatchNorm(options))}\n`);
}
