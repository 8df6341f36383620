// The model (or one recomputed segment of it) as the lean backward pass sees it: each layer with its inputs, its rule,
// whether its output needs a gradient (it depends on a trainable weight: PyTorch's requires_grad), and what the backward
// pass keeps of its output: nothing, the tensor, or a recipe to rebuild it. Decided before the forward pass runs, from
// the rules' declarations alone, so the planner can add up the same bytes.

import * as tf from '@tensorflow/tfjs';
import type { BackwardNeeds, Layer, LayerRule, RuleAnalysis } from './layer-rule.ts';
import { ruleFor } from './rule-table.ts';
import { rebuildFusion } from './saved-value.ts';

export type Retention = 'none' | 'kept' | 'rebuilt';

export interface GraphNode {
  layer: Layer;
  name: string;
  /** Names of the nodes feeding it, in the layer's input order. */
  inputs: string[];
  rule: LayerRule;
  needsGradient: boolean;
  analysis: RuleAnalysis;
  /** What its backward step reads; undefined when it has none (its output needs no gradient). */
  needs?: BackwardNeeds;
  retention: Retention;
  /** Whether the forward pass keeps its extras (batch statistics, masks): for its backward step or its rebuild. */
  keepsExtras: boolean;
  /** Consumers in the forward pass, so a value is freed once the last one has run. */
  forwardUses: number;
}

export interface GraphSource {
  name: string;
  needsGradient: boolean;
}

export interface LayerGraph {
  nodes: GraphNode[];
  sources: Array<GraphSource & { retention: Retention }>;
  output: string;
  /** Layers that need a gradient and have no rule: their class names, for the log. */
  autodiffLayers: string[];
}

/** Raised for graphs the lean backward pass does not take (a layer applied twice, a layer with several outputs). */
export class UnsupportedGraph extends Error {}

/** The tfjs variable behind a layer weight, which is what the trainer's variable list holds. */
export const variableOf = (weight: tf.LayerVariable) => (weight as unknown as { val: tf.Variable }).val;

function inboundNames(layer: Layer): string[] {
  if (layer.inboundNodes.length !== 1) throw new UnsupportedGraph(`layer ${layer.name} is applied ${layer.inboundNodes.length} times`);
  const node = layer.inboundNodes[0] as unknown as { inboundLayers: Layer[]; tensorIndices: number[] };
  if (node.tensorIndices.some((index) => index !== 0)) throw new UnsupportedGraph(`layer ${layer.name} reads a layer with several outputs`);
  return node.inboundLayers.map((inbound) => inbound.name);
}

/**
 * `layers` in topological order (a model's `layers` are), fed by `sources`, ending at `output`. `trainable` holds the
 * variables that get gradients (the trainer's).
 */
export function analyseLayers(layers: Layer[], sources: GraphSource[], output: string, trainable: ReadonlySet<tf.Variable>): LayerGraph {
  const needsGradient = new Map(sources.map((source) => [source.name, source.needsGradient]));
  const wants = (weight: tf.LayerVariable | undefined) => weight !== undefined && weight !== null && trainable.has(variableOf(weight));
  const nodes: GraphNode[] = layers.map((layer) => {
    const inputs = inboundNames(layer);
    for (const input of inputs)
      if (!needsGradient.has(input)) throw new UnsupportedGraph(`layer ${layer.name} reads ${input}, outside the graph`);
    const inputsNeedGradient = inputs.map((input) => needsGradient.get(input)!);
    const own = layer.trainableWeights.some((weight) => wants(weight));
    const node: GraphNode = {
      layer,
      name: layer.name,
      inputs,
      rule: ruleFor(layer),
      needsGradient: own || inputsNeedGradient.some(Boolean),
      analysis: { inputsNeedGradient, wants },
      retention: 'none',
      keepsExtras: false,
      forwardUses: 0,
    };
    needsGradient.set(layer.name, node.needsGradient);
    return node;
  });
  const byName = new Map(nodes.map((node) => [node.name, node]));
  for (const node of nodes)
    for (const input of node.inputs) {
      const producer = byName.get(input);
      if (producer) producer.forwardUses++;
    }

  // Last consumer first, so every reader of a value has declared its needs before the value's retention is decided.
  const needed = new Set<string>();
  for (const node of [...nodes].reverse()) {
    if (node.needsGradient) {
      node.needs = node.rule.needs(node.layer, node.analysis);
      node.needs.inputs.forEach((reads, i) => reads && needed.add(node.inputs[i]));
      if (node.needs.output) needed.add(node.name);
    }
    if (needed.has(node.name)) {
      // Rebuilding reads all the layer's inputs, which are then needed in turn (a chain ends at a kept convolution output).
      node.retention = node.rule.rebuild ? 'rebuilt' : 'kept';
      if (node.retention === 'rebuilt') for (const input of node.inputs) needed.add(input);
    }
    node.keepsExtras = node.needsGradient || node.retention === 'rebuilt';
  }
  const autodiffLayers = nodes
    .filter((node) => node.needsGradient && node.rule.kind === 'autodiff')
    .map((node) => node.layer.getClassName());
  return {
    nodes,
    sources: sources.map((source) => ({ ...source, retention: needed.has(source.name) ? 'kept' : 'none' })),
    output,
    autodiffLayers,
  };
}

/**
 * The nodes whose forward output is not made (LayerRule.forwardDeferred) on the running backend: those whose rule defers
 * it, read by one consumer that applies their recipe in its own kernel, not kept, and not the graph's output. Decided
 * from the rules' declarations, like retention, for the forward pass and the planner alike.
 */
export function deferredOutputs(graph: LayerGraph): Set<string> {
  if (!rebuildFusion.enabled) return new Set();
  // Asked on every forward pass: computed once a graph and backend (the rules' answers depend on the backend only).
  const byBackend = getOrMake(deferredByGraph, graph, () => new Map<string, Set<string>>());
  return getOrMake(byBackend, tf.getBackend(), () => findDeferredOutputs(graph));
}

const deferredByGraph = new WeakMap<LayerGraph, Map<string, Set<string>>>();

function findDeferredOutputs(graph: LayerGraph): Set<string> {
  const readers = new Map<string, GraphNode[]>();
  for (const node of graph.nodes) for (const name of node.inputs) getOrMake(readers, name, () => [] as GraphNode[]).push(node);
  const deferred = new Set<string>();
  for (const node of graph.nodes) {
    const [reader, ...others] = readers.get(node.name) ?? [];
    if (
      node.rule.defers?.(node.layer) &&
      reader &&
      others.length === 0 &&
      reader.inputs.length === 1 &&
      reader.rule.fusesRecipeOf?.(reader.layer) === node.rule.kind &&
      node.retention !== 'kept' &&
      node.name !== graph.output
    )
      deferred.add(node.name);
  }
  return deferred;
}

function getOrMake<K, V>(map: { get(key: K): V | undefined; set(key: K, value: V): unknown }, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}
