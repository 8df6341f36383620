// What streamfit's webgpu kernels change in a training step's memory, for the planner (src/memory): the optimizer update
// writes variables, slots and the trainer's accumulators in place (src/kernels/webgpu/fused-update.ts), so it holds no
// per-variable temporaries and no scaled copy of the gradients; only a uniform buffer or two. But the trainer holds a whole
// chunk's weight gradients until the device has answered its error scope (src/train/trainer.ts), where other backends add
// each into its accumulator as it is made. Each layer's workspace has its own factors on webgpu (below), and freed buffers
// wait for a submit.

import * as tf from '@tensorflow/tfjs';
import { earlySubmit } from '../../backend/webgpu-memory.ts';
import type { Layer, Workspace } from '../../memory/lean-backward/layer-rule.ts';

/** Whether the optimizer update runs as streamfit's WGSL dispatches (the webgpu backend). */
export function runsWebgpuUpdate(): boolean {
  return tf.getBackend() === 'webgpu';
}

/** Bytes per trainable byte the WGSL update holds beyond what the step already holds. */
export const webgpuUpdateTransient = 0;

/**
 * A lean step's workspace on webgpu by rule kind, in place of the factors its rule declares (measured on wasm): the
 * backward step's in units of its largest input and its output, the forward's temporaries in units of its output. The WGSL
 * gradients of the convolutions, swish and BatchNorm write their results without tfjs' temporaries: a backward step holds
 * its dx and at most one rebuilt value or a filter gradient's partial sums. Measured with bench/lean-workspace.ts on the
 * software adapter (the same buffers as on a GPU: their sizes are tfjs' and streamfit's, not the driver's), with every
 * freed buffer submitted at once (the wait for a submit is pendingFreedBytesOnBackend's), the highest step of each kind:
 * EfficientNet-B0 at 224 px, B7 at 160 px, ResNet-50 at 112 px and MobileNetV2 at 224 px, batch 2, MobileNetV2 at 128 px,
 * batch 4. tfjs' strided convolution forward holds up to 5.2× its output.
 */
const webgpuWorkspace: Readonly<Record<string, (layer: Layer) => Workspace>> = {
  conv2d: (layer) => ({ input: 2.9, output: 0, forward: strided(layer) ? 5.3 : 0.3 }),
  // Its rebuilt input and dx. MobileNetV2's steps held 3 while its ReLU6 was rebuilt as tfjs' relu, then clipByValue.
  'depthwise-conv2d': () => ({ input: 2, output: 0, forward: 0.3 }),
  // Swish after BatchNorm is differentiated from BatchNorm's input, whose output is never rebuilt (src/memory/lean-backward/
  // rules/activation.ts): its step holds dx alone.
  activation: (layer) => ({ input: swishAfterBatchNorm(layer) ? 1 : 2, output: 0, forward: 0 }),
  'batch-normalization': () => ({ input: 1, output: 0, forward: 0.1 }),
  // A broadcast operand's gradient (squeeze-excite's scale) is summed in one pass with no full-size product.
  multiply: (layer) => ({ input: broadcastsAnOperand(layer) ? 1 : 2, output: 0, forward: 0 }),
  'zero-padding2d': () => ({ input: 1, output: 0, forward: 0 }),
  // ReLU and ReLU6 forward, rebuilt and differentiated in one pass each: the rebuilt input and dx (input 4 and forward 1
  // while ReLU6 was tfjs' relu, then clipByValue, and its gradient mask four tfjs kernels).
  relu: () => ({ input: 2, output: 0, forward: 0 }),
};

/** One operand has the output's shape and the other is broadcast (the case src/memory/lean-backward/rules/merge.ts sums in one pass). */
function broadcastsAnOperand(layer: Layer): boolean {
  const output = String(layer.outputShape);
  const matches = [layer.input].flat().filter((input) => String(input.shape) === output).length;
  return matches === 1 && [layer.input].flat().length === 2;
}

const producer = (layer: Layer): Layer | undefined => layer.inboundNodes[0]?.inboundLayers[0];

function swishAfterBatchNorm(layer: Layer): boolean {
  const activation = (layer.getConfig() as { activation?: unknown }).activation;
  return activation === 'swish' && producer(layer)?.getClassName() === 'BatchNormalization';
}

const strided = (layer: Layer) => [(layer as unknown as { strides?: number | number[] }).strides ?? 1].flat().some((stride) => stride > 1);

/** A layer's workspace on the running backend where it differs from its rule's own (webgpu), else undefined. */
export function workspaceOnBackend(kind: string, layer: Layer): Workspace | undefined {
  return runsWebgpuUpdate() ? webgpuWorkspace[kind]?.(layer) : undefined;
}

/**
 * Bytes of disposed tensors that still count as in use on webgpu, for a step whose largest layer output is
 * `largestOutputBytes`: tfjs releases a buffer that pending commands read only at its next submit (every 15 dispatches),
 * and the trainer submits early once twice its chunk's largest output, or earlySubmit.bytes, wait
 * (src/backend/webgpu-memory.ts withEarlySubmitBound). The submit runs in the release that crosses the bound, so no more
 * than that stays in use. How much less waits at a step's peak depends on where the 15-dispatch submits fall, which every
 * change of a step's dispatch count moves (B0 at 224 px, micro-batch 1, peaked 3.2 MB higher and MobileNetV2 at 224 px,
 * micro-batch 2, 12 MB higher after two cuts of dispatches elsewhere in the step), so the planner counts the bound. 0
 * elsewhere.
 */
export function pendingFreedBytesOnBackend(largestOutputBytes: number): number {
  return runsWebgpuUpdate() ? Math.min(earlySubmit.bytes, 2 * largestOutputBytes) : 0;
}
