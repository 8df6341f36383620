// Measures the planner's layerKindWeights: bytes a training step keeps per byte of output of each layer kind that
// EfficientNet lacks, relative to EfficientNet's conv–BatchNorm–swish (weight 1, activationFactor). Each kind is measured
// in a stack of six repeats and compared with the plain stack in the same run. Prints JSON.
// Usage: node --import tsx scripts/measure-layer-kinds.ts [backend=wasm]

import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import type { Batch } from '../src/data/samples.ts';
import { estimateStep, profileModel } from '../src/memory/planner.ts';
import { FineTuneBatchNormalization, LeanActivation } from '../src/models/layers.ts';
import { Trainer } from '../src/train/trainer.ts';

const kinds = ['base', 'Activation:relu', 'ReLU:clipped', 'Conv2D:relu', 'MaxPooling2D', 'AveragePooling2D', 'Concatenate'] as const;
type Kind = (typeof kinds)[number];

const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
const conv = (filters: number, activation?: 'relu') =>
  tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: Boolean(activation), activation });

/** stem conv, then six repeats of conv–BN–swish with the kind swapped in or added, then a small head. */
function stack(kind: Kind, size: number, channels: number): { model: tf.LayersModel; kindLayers: Set<string> } {
  const kindLayers = new Set<string>();
  const mark = (layer: tf.layers.Layer) => {
    kindLayers.add(layer.name);
    return layer;
  };
  const input = tf.input({ shape: [size, size, 3] });
  let x = apply(conv(channels), input);
  for (let i = 0; i < 6; i++) {
    if (kind === 'Conv2D:relu') {
      x = apply(mark(conv(channels, 'relu')), x);
      continue;
    }
    const branches = kind === 'Concatenate' ? [channels / 2, channels / 2] : [channels];
    const outputs = branches.map((filters) => {
      let y = apply(conv(filters), x);
      y = apply(new FineTuneBatchNormalization({ axis: 3 }), y);
      if (kind === 'Activation:relu') return apply(mark(new LeanActivation({ activation: 'relu' })), y);
      if (kind === 'ReLU:clipped') return apply(mark(tf.layers.reLU({ maxValue: 6 })), y);
      return apply(new LeanActivation({ activation: 'swish' }), y);
    });
    x = outputs.length > 1 ? apply(mark(tf.layers.concatenate({ axis: -1 })), outputs) : outputs[0];
    if (kind === 'MaxPooling2D') x = apply(mark(tf.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same' })), x);
    if (kind === 'AveragePooling2D') x = apply(mark(tf.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' })), x);
  }
  x = apply(tf.layers.globalAveragePooling2d({}), x);
  x = apply(tf.layers.dense({ units: 3, activation: 'softmax' }), x);
  return { model: tf.model({ inputs: input, outputs: x }), kindLayers };
}

function batchOf(microBatch: number, size: number): Batch {
  const x = Uint8Array.from({ length: microBatch * size * size * 3 }, (_, i) => (i * 2654435761) >>> 24);
  const y = Int32Array.from({ length: microBatch }, (_, i) => i % 3);
  return { x, y, keys: [], shape: [microBatch, size, size, 3], dtype: 'uint8', bytes: x.byteLength + y.byteLength };
}

/** Bytes kept above the parameters, gradients and optimizer state, and the output bytes of the kind's layers and the rest. */
function measure(kind: Kind, size: number, channels: number, microBatch: number) {
  const { model, kindLayers } = stack(kind, size, channels);
  const { breakdown } = estimateStep(profileModel(model), microBatch, 'sgd', false);
  const outputBytes = (layer: tf.layers.Layer) => (layer.outputShape as number[]).slice(1).reduce((a, b) => a * b, 4 * microBatch);
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  const kindBytes = layers.filter((layer) => kindLayers.has(layer.name)).reduce((sum, layer) => sum + outputBytes(layer), 0);
  const otherBytes = layers.filter((layer) => !kindLayers.has(layer.name)).reduce((sum, layer) => sum + outputBytes(layer), 0);
  const trainer = new Trainer({ model, optimizer: { name: 'sgd', lr: 1e-3 }, accumulate: 1, memoryBudgetBytes: Number.MAX_SAFE_INTEGER });
  const batch = batchOf(microBatch, size);
  trainer.step(batch);
  trainer.step(batch);
  const kept = trainer.lastPeakBytes - (breakdown.params + breakdown.grads + breakdown.accumulators + breakdown.optimizer);
  trainer.dispose();
  model.dispose();
  return { kept, kindBytes, otherBytes };
}

await selectBackend((process.argv[2] ?? 'wasm') as 'wasm');
const shapes = [
  { size: 32, channels: 32, microBatch: 4 },
  { size: 48, channels: 64, microBatch: 2 },
];
const results = shapes.map(({ size, channels, microBatch }) => {
  const base = measure('base', size, channels, microBatch);
  // The plain stack's bytes kept per byte of output stand for weight 1.
  const perByte = base.kept / base.otherBytes;
  const weights = Object.fromEntries(
    kinds.slice(1).map((kind) => {
      const { kept, kindBytes, otherBytes } = measure(kind, size, channels, microBatch);
      return [kind, Number(((kept - perByte * otherBytes) / (perByte * kindBytes)).toFixed(3))];
    }),
  );
  return { size, channels, microBatch, baseBytesPerOutputByte: Number(perByte.toFixed(3)), weights };
});
console.log(JSON.stringify({ backend: tf.getBackend(), results }));
