// Per-sample device bytes of the lean backward pass, for the planner: what the forward pass keeps (from the same retention
// decisions the tape makes), and the highest point of the backward pass, simulated layer by layer: the kept values not yet
// freed, the gradients waiting for their producer, and the step's workspace (each rule's measured factors).

import { deferredOutputs, type GraphNode, type LayerGraph } from './layer-graph.ts';
import { workspaceOf } from './layer-rule.ts';

export interface ActivationEstimate {
  /** Per sample: bytes the forward pass keeps for the backward pass. */
  keptBytes: number;
  /** Per sample: the highest total during the step. */
  peakBytes: number;
}

const elements = (shape: ReadonlyArray<number | null>) => shape.slice(1).reduce<number>((product, size) => product * (size ?? 1), 1);

/** Bytes per sample of every value in the graph (node outputs and sources). */
function valueSizes(graph: LayerGraph): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const node of graph.nodes) {
    sizes.set(node.name, elements(node.layer.outputShape as Array<number | null>) * 4);
    [node.layer.input].flat().forEach((input, i) => {
      if (!sizes.has(node.inputs[i])) sizes.set(node.inputs[i], elements(input.shape) * 4);
    });
  }
  return sizes;
}

/**
 * The graph's kept bytes and peak per sample. `outputGradientBytes` is the upstream gradient (a segment's dy); by default
 * the size of the output.
 */
export function estimateGraphMemory(graph: LayerGraph, outputGradientBytes?: number): ActivationEstimate {
  const sizes = valueSizes(graph);
  const index = new Map(graph.nodes.map((node, i) => [node.name, i]));
  // The backward step (node index) after which each held value is freed: its earliest reader, or the moment the value
  // whose recipe holds it is freed. Consumers come later in the order, so a reverse walk sees them first.
  const freedAt = new Map<string, number>();
  const earliest = (name: string, at: number) => freedAt.set(name, Math.min(freedAt.get(name) ?? Number.POSITIVE_INFINITY, at));
  const held: Array<{ bytes: number; freedAt: () => number }> = [];
  for (const node of [...graph.nodes].reverse()) {
    const at = index.get(node.name)!;
    node.needs?.inputs.forEach((reads, i) => reads && earliest(node.inputs[i], at));
    if (node.needs?.output) earliest(node.name, at);
    if (node.retention === 'rebuilt') for (const input of node.inputs) earliest(input, freedAt.get(node.name)!);
    if (node.retention === 'kept') held.push({ bytes: sizes.get(node.name)!, freedAt: () => freedAt.get(node.name)! });
    const extraBytes = node.keepsExtras ? (node.rule.extraElements?.(node.layer) ?? 0) * 4 : 0;
    if (extraBytes > 0) {
      const extrasFreedAt = Math.min(
        node.needsGradient ? at : Number.POSITIVE_INFINITY,
        freedAt.get(node.name) ?? Number.POSITIVE_INFINITY,
      );
      held.push({ bytes: extraBytes, freedAt: () => extrasFreedAt });
    }
  }
  const keptBytes = held.reduce((sum, value) => sum + value.bytes, 0);

  let peak = forwardPeak(graph, sizes);
  let alive = keptBytes;
  const pending = new Map<string, number>([[graph.output, outputGradientBytes ?? sizes.get(graph.output)!]]);
  const freedBy = new Map<number, number>();
  for (const value of held) {
    const at = value.freedAt();
    freedBy.set(at, (freedBy.get(at) ?? 0) + value.bytes);
  }
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i];
    if (node.needsGradient && pending.has(node.name)) {
      const pendingBytes = [...pending.values()].reduce((sum, bytes) => sum + bytes, 0);
      peak = Math.max(peak, alive + pendingBytes + backwardWorkspace(node, sizes));
      pending.delete(node.name);
      node.inputs.forEach((input, k) => {
        if (node.analysis.inputsNeedGradient[k] && !pending.has(input)) pending.set(input, sizes.get(input)!);
      });
    }
    alive -= freedBy.get(i) ?? 0;
  }
  return { keptBytes, peakBytes: peak };
}

/**
 * The forward pass holds what it keeps so far, the values whose consumers have not all run, and one layer's temporaries.
 * A frozen prefix keeps nothing but still runs, so this can exceed the backward pass.
 */
export function forwardPeak(graph: LayerGraph, sizes = valueSizes(graph)): number {
  const usesLeft = new Map(graph.nodes.map((node) => [node.name, node.forwardUses]));
  // A deferred output (BatchNorm's before swish on webgpu) is never made; its inputs are held until its consumer runs.
  const deferred = deferredOutputs(graph);
  const sizeOf = (name: string) => (deferred.has(name) ? 0 : sizes.get(name)!);
  const held = new Map<string, string[]>();
  let live = 0;
  let kept = 0;
  let peak = 0;
  for (const node of graph.nodes) {
    if (deferred.has(node.name)) {
      held.set(node.name, node.inputs);
      continue;
    }
    const output = sizes.get(node.name)!;
    peak = Math.max(peak, kept + live + (1 + (workspaceOf(node.rule, node.layer).forward ?? 1)) * output);
    live += output;
    for (const input of [...node.inputs, ...node.inputs.flatMap((name) => held.get(name) ?? [])]) {
      const left = usesLeft.get(input);
      if (left === undefined) continue;
      usesLeft.set(input, left - 1);
      if (left === 1) live -= sizeOf(input);
    }
    if (node.retention === 'kept') kept += output;
    if (node.forwardUses === 0 && node.name !== graph.output) live -= output;
  }
  return peak;
}

function backwardWorkspace(node: GraphNode, sizes: Map<string, number>): number {
  const { input, output } = workspaceOf(node.rule, node.layer);
  const largestInput = Math.max(...node.inputs.map((name) => sizes.get(name)!));
  return input * largestInput + output * sizes.get(node.name)!;
}

/**
 * Under recomputation: the forward pass keeps the boundary entering each segment from the lowest one that learns; the
 * backward pass reruns one segment at a time with the boundaries below it still held.
 */
export function estimateRecomputedMemory(segments: LayerGraph[]): ActivationEstimate {
  const lowest = Math.max(
    0,
    segments.findIndex((graph) => graph.nodes.some((node) => node.needsGradient)),
  );
  const boundaryBytes = segments.map((graph, i) => (i === 0 ? 0 : valueSizes(graph).get(graph.sources[0].name)!));
  let peak = 0;
  let below = 0;
  // The first pass: each segment runs untaped with the boundaries before it held.
  segments.forEach((graph, i) => {
    peak = Math.max(peak, below + forwardPeak(graph));
    if (i + 1 < segments.length && i + 1 >= lowest) below += boundaryBytes[i + 1];
  });
  const keptBytes = below;
  for (let i = segments.length - 1; i >= lowest; i--) {
    const upstream = i === segments.length - 1 ? undefined : boundaryBytes[i + 1];
    peak = Math.max(peak, below + estimateGraphMemory(segments[i], upstream).peakBytes);
    below -= i >= Math.max(1, lowest) ? boundaryBytes[i] : 0;
  }
  return { keptBytes, peakBytes: peak };
}
