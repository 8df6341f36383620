// Re-measures the lean backward pass's workspace factors (src/memory/lean-backward/rules: `workspace`; on webgpu,
// src/kernels/webgpu/footprint.ts), which the planner multiplies by layer sizes: runs one step with each forward and
// backward step's peak measured, and prints, per layer kind, the measured bytes over the declared ones (a forward's
// temporaries beyond its output over its `forward` factor). Rerun it when kernels change (a backend, new kernels) and
// scale the factors.
//   npx tsx bench/lean-workspace.ts '{"model":"efficientnet-b0","imageSize":224,"batch":2,"backend":"wasm"}'

import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { earlySubmit, gpuBytes } from '../src/backend/webgpu-memory.ts';
import type { Batch } from '../src/data/samples.ts';
import type { LayerRule } from '../src/memory/lean-backward/layer-rule.ts';
import { workspaceOf } from '../src/memory/lean-backward/layer-rule.ts';
import { LeanBackward } from '../src/memory/lean-backward/lean-step.ts';
import { withPeakBytes } from '../src/memory/peak-bytes.ts';
import { createModel } from '../src/models/create-model.ts';
import { batchTensors } from '../src/train/batch-tensor.ts';
import { machine } from './train.ts';

interface Options {
  model: string;
  imageSize: number;
  batch: number;
  backend?: string;
}

const elements = (shape: ReadonlyArray<number | null>) => shape.slice(1).reduce<number>((product, size) => product * (size ?? 1), 1);
/** Steps whose declared activation workspace is below this are left out: there rounding of small tensors dominates. */
const smallest = 2 ** 18;

export async function measureWorkspace(options: Options): Promise<Record<string, unknown>> {
  const backend = await selectBackend(options.backend);
  // On webgpu, freed buffers that wait for a submit would count as each step's workspace: submit at once instead (the
  // planner adds that wait on its own, pendingFreedBytesOnBackend).
  const submitAfter = earlySubmit.bytes;
  earlySubmit.bytes = 0;
  const { model } = await createModel(options.model, { classes: 10, imageSize: options.imageSize, freeze: 'none' });
  const lean = new LeanBackward(model);
  const ratios = new Map<string, number[]>();
  const forwardRatios = new Map<string, number[]>();
  for (const node of lean.graph().nodes) {
    const rule = node.rule;
    const { input, output } = workspaceOf(rule, node.layer);
    const largestInput = Math.max(...[node.layer.input].flat().map((tensor) => elements(tensor.shape)));
    // The weight gradient being formed is the planner's `grads` line (twice the largest weight), not the layer's workspace.
    const weightBytes = 2 * node.layer.trainableWeights.reduce((sum, weight) => sum + elements([1, ...weight.shape]) * 4, 0);
    const activationBytes = (input * largestInput + output * elements(node.layer.outputShape as number[])) * 4 * options.batch;
    const declared = activationBytes + weightBytes;
    const outputBytes = elements(node.layer.outputShape as number[]) * 4 * options.batch;
    const forwardDeclared = (workspaceOf(rule, node.layer).forward ?? 1) * outputBytes;
    const measuring: LayerRule = {
      ...rule,
      // The forward computation's temporaries beyond its output, over the declared `forward` factor.
      forward(layer, inputs, state) {
        const before = backend.name === 'webgpu' ? gpuBytes()!.inUse : tf.memory().numBytes;
        const { result, peakBytes } = withPeakBytes(() => rule.forward(layer, inputs, state));
        if (forwardDeclared >= smallest)
          forwardRatios.set(rule.kind, [...(forwardRatios.get(rule.kind) ?? []), (peakBytes - before - outputBytes) / forwardDeclared]);
        return result;
      },
      backward(layer, dy, context) {
        // On webgpu withPeakBytes counts GPU bytes in use (kernels' own temporaries included), so the start must too.
        const before = backend.name === 'webgpu' ? gpuBytes()!.inUse : tf.memory().numBytes;
        const { result, peakBytes } = withPeakBytes(() => rule.backward(layer, dy, context));
        if (activationBytes >= smallest) ratios.set(rule.kind, [...(ratios.get(rule.kind) ?? []), (peakBytes - before) / declared]);
        return result;
      },
    };
    node.rule = measuring;
  }
  const length = options.batch * options.imageSize * options.imageSize * 3;
  const batch: Batch = {
    x: Uint8Array.from({ length }, (_, i) => (i * 2654435761) >>> 24),
    y: Int32Array.from({ length: options.batch }, (_, i) => i % 10),
    keys: [],
    shape: [options.batch, options.imageSize, options.imageSize, 3],
    dtype: 'uint8',
    bytes: length,
  };
  const { x, y } = batchTensors(batch);
  try {
    lean.step(x, y, { labelSmoothing: 0, lossScale: options.batch, deliver: (_variable, gradient) => gradient.dispose() }).dispose();
  } finally {
    earlySubmit.bytes = submitAfter; // a test calls this in its own process
    tf.dispose([x, y]);
    model.dispose();
  }
  const round = (value: number) => Number(value.toFixed(2));
  const kinds = Object.fromEntries(
    [...ratios].map(([kind, values]) => {
      const forward = forwardRatios.get(kind);
      return [
        kind,
        {
          steps: values.length,
          maxMeasuredOverDeclared: round(Math.max(...values)),
          ...(forward ? { forwardMaxMeasuredOverDeclared: round(Math.max(...forward)) } : {}),
        },
      ];
    }),
  );
  return { bench: 'lean-workspace', machine: machine(), backend: backend.name, ...options, kinds };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await measureWorkspace({ model: 'efficientnet-b0', imageSize: 224, batch: 2, ...JSON.parse(process.argv[2] ?? '{}') });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
