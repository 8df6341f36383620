// The lean tape: the forward pass runs the layers outside tfjs' gradient tape and records, per layer whose output needs a
// gradient, exactly the saved values its backward step reads; the backward pass walks the records in reverse, hands each
// weight gradient on as soon as it is computed, and frees every saved value after its last use and every upstream gradient
// once it is consumed.

import * as tf from '@tensorflow/tfjs';
import { deferredOutputs, type GraphNode, type LayerGraph, variableOf } from './layer-graph.ts';
import type { BackwardContext, ForwardResult, ForwardState, Unbuilt } from './layer-rule.ts';
import { PendingGradients } from './pending-gradients.ts';
import { type Recipe, SavedValue } from './saved-value.ts';
import { share } from './tensor-views.ts';

interface TapeRecord {
  node: GraphNode;
  outputShape: number[];
  inputs: Array<SavedValue | undefined>;
  output?: SavedValue;
  extras: Array<SavedValue | undefined>;
}

export class LeanTape {
  readonly records: TapeRecord[] = [];
  readonly sourceShapes = new Map<string, number[]>();
  private readonly values: SavedValue[] = [];

  track(value: SavedValue): SavedValue {
    this.values.push(value);
    return value;
  }

  /** Frees the values nothing claimed after the forward pass, last first, so that a recipe's inputs follow it. */
  freeUnclaimed(): void {
    for (const value of [...this.values].reverse()) if (value.unclaimed) value.free();
  }

  /** Frees whatever is still held (everything, on an error). */
  dispose(): void {
    for (const value of this.values) value.free();
    this.records.length = 0;
  }
}

export interface ForwardOptions {
  /** Record what the backward pass needs; false for a pass whose activations are dropped (recomputation's first pass). */
  record: boolean;
  /** Update running statistics; false when a recomputed segment reruns. */
  updateStatistics: boolean;
}

/** Runs the graph forward from the source tensors (which the caller keeps owning) and returns its output and tape. */
export function runForward(
  graph: LayerGraph,
  sourceValues: ReadonlyMap<string, tf.Tensor>,
  options: ForwardOptions,
): { output: tf.Tensor; tape: LeanTape } {
  const tape = new LeanTape();
  const values = new Map<string, tf.Tensor>(sourceValues);
  const saved = new Map<string, SavedValue>();
  const owned = new Set<string>();
  const usesLeft = new Map(graph.nodes.map((node) => [node.name, node.forwardUses]));
  // Outputs not made (forwardDeferred), as the recipes their one consumer applies.
  const deferred = new Map<string, Unbuilt>();
  try {
    for (const source of graph.sources) {
      tape.sourceShapes.set(source.name, sourceValues.get(source.name)!.shape);
      if (options.record && source.retention === 'kept')
        saved.set(source.name, tape.track(SavedValue.kept(source.name, sourceValues.get(source.name)!)));
    }
    const deferrable = deferredOutputs(graph);
    for (const node of graph.nodes) {
      const deferredInput = node.inputs.length === 1 ? deferred.get(node.inputs[0]) : undefined;
      const inputs = deferredInput ? [] : node.inputs.map((name) => values.get(name)!);
      const state = { updateStatistics: options.updateStatistics };
      const made = deferrable.has(node.name) ? forwardDeferred(node, inputs, state) : undefined;
      if (made) {
        // The output is left to the consumer, which makes its own from this recipe (BatchNorm's, before swish).
        const { extras } = made;
        deferred.set(node.name, unbuiltOf(node, inputs.map(share), extras));
        if (options.record) recordNode(tape, node, inputs[0].shape, undefined, extras, saved);
      } else {
        // In a tidy scope: some tfjs layers leave intermediates behind when called outside one (ReLU with a maximum).
        const { output, extras = [] } = tf.tidy(() => {
          if (!deferredInput) return node.rule.forward(node.layer, inputs, state) as unknown as tf.TensorContainer;
          const fused = node.rule.rebuildFrom!(node.layer, deferredInput);
          return { output: fused ?? node.rule.forward(node.layer, [deferredInput.rebuild()], state).output };
        }) as unknown as ForwardResult;
        values.set(node.name, output);
        owned.add(node.name);
        if (options.record) recordNode(tape, node, output.shape, output, extras, saved);
        for (const extra of extras) extra.dispose();
      }
      if (deferredInput) {
        deferred.delete(node.inputs[0]);
        tf.dispose([...deferredInput.inputs, ...deferredInput.extras]);
      }
      for (const name of node.inputs) {
        const left = usesLeft.get(name);
        if (left === undefined) continue; // a source: the caller's
        usesLeft.set(name, left - 1);
        if (left === 1 && name !== graph.output && values.has(name)) {
          values.get(name)!.dispose();
          values.delete(name);
        }
      }
      if (node.forwardUses === 0 && node.name !== graph.output && values.has(node.name)) {
        values.get(node.name)!.dispose();
        values.delete(node.name);
      }
    }
    const output = values.get(graph.output)!;
    values.delete(graph.output);
    return { output, tape: finishTape(tape) };
  } catch (error) {
    tape.dispose();
    throw error;
  } finally {
    for (const [name, value] of values) if (owned.has(name)) value.dispose();
    for (const { inputs, extras } of deferred.values()) tf.dispose([...inputs, ...extras]);
  }
}

/** The node's forward pass without its output (LayerRule.forwardDeferred), in a tidy scope. */
function forwardDeferred(node: GraphNode, inputs: tf.Tensor[], state: ForwardState): { extras: tf.Tensor[] } | undefined {
  return tf.tidy(() => node.rule.forwardDeferred!(node.layer, inputs, state)) as { extras: tf.Tensor[] } | undefined;
}

/** A deferred output's recipe over these tensors (the holder's to dispose). */
function unbuiltOf(node: GraphNode, inputs: tf.Tensor[], extras: tf.Tensor[]): Unbuilt {
  const { rule, layer } = node;
  return { kind: rule.kind, layer, inputs, extras, rebuild: () => tf.tidy(() => rule.rebuild!(layer, inputs, extras)) };
}

/** `output` is undefined where it was deferred, which only a node whose output is not kept can be. */
function recordNode(
  tape: LeanTape,
  node: GraphNode,
  outputShape: number[],
  output: tf.Tensor | undefined,
  extras: tf.Tensor[],
  saved: Map<string, SavedValue>,
): void {
  const extraValues = node.keepsExtras ? extras.map((extra, i) => tape.track(SavedValue.kept(`${node.name}/extra${i}`, extra))) : [];
  if (node.retention === 'kept') saved.set(node.name, tape.track(SavedValue.kept(node.name, output!)));
  if (node.retention === 'rebuilt') {
    const { rule, layer } = node;
    const inputCount = node.inputs.length;
    const fused = rule.fusesRecipeOf?.(layer);
    const recipe: Recipe = {
      kind: rule.kind,
      layer,
      inputs: [...node.inputs.map((name) => saved.get(name)!), ...extraValues],
      inputCount,
      rebuild: (tensors) => tf.tidy(() => rule.rebuild!(layer, tensors.slice(0, inputCount), tensors.slice(inputCount))),
      rebuildFrom: fused ? { kind: fused, rebuild: (input) => tf.tidy(() => rule.rebuildFrom!(layer, input)) } : undefined,
    };
    saved.set(node.name, tape.track(SavedValue.rebuilt(node.name, recipe)));
  }
  if (!node.needs) return;
  const claim = (value: SavedValue | undefined, what: string) => {
    if (!value) throw new Error(`lean backward: ${node.name} needs ${what}, which was not kept`);
    value.claim();
    return value;
  };
  tape.records.push({
    node,
    outputShape,
    inputs: node.needs.inputs.map((reads, i) => (reads ? claim(saved.get(node.inputs[i]), node.inputs[i]) : undefined)),
    output: node.needs.output ? claim(saved.get(node.name), 'its output') : undefined,
    extras: extraValues.map((value) => claim(value, 'an extra')),
  });
}

function finishTape(tape: LeanTape): LeanTape {
  tape.freeUnclaimed();
  return tape;
}

/**
 * Walks the tape backwards from the gradient of the graph's output (ownership passes), handing each weight gradient to
 * `deliver`. Returns the gradients of the sources that need one; the tape is spent afterwards.
 */
export function runBackward(
  graph: LayerGraph,
  tape: LeanTape,
  outputGradient: tf.Tensor,
  deliver: (variable: tf.Variable, gradient: tf.Tensor) => void,
): Map<string, tf.Tensor> {
  const pending = new PendingGradients();
  pending.add(graph.output, outputGradient);
  try {
    for (let index = tape.records.length - 1; index >= 0; index--) {
      const record = tape.records[index];
      const { node } = record;
      const dy = pending.take(node.name, record.outputShape);
      if (dy) {
        // The tidy scope only catches what a step leaves behind: each step frees its full-size tensors itself, as it goes.
        const gradients = tf.tidy(() => node.rule.backward(node.layer, dy, contextFor(record, deliver)));
        gradients.forEach((gradient, i) => {
          if (!gradient) return;
          if (node.analysis.inputsNeedGradient[i]) pending.add(node.inputs[i], gradient);
          else gradient.dispose();
        });
      }
      // Claims the backward step did not read (or all of them, when no gradient reached the layer).
      for (const value of [...record.inputs, record.output, ...record.extras]) value?.release();
      tape.records[index] = undefined as unknown as TapeRecord;
    }
    const result = new Map<string, tf.Tensor>();
    for (const source of graph.sources) {
      const gradient = source.needsGradient ? pending.take(source.name, tape.sourceShapes.get(source.name)!) : undefined;
      if (gradient) result.set(source.name, gradient);
    }
    return result;
  } finally {
    pending.dispose();
    tape.dispose();
  }
}

function contextFor(record: TapeRecord, deliver: (variable: tf.Variable, gradient: tf.Tensor) => void): BackwardContext {
  // Each read takes the claim out of the record, so the release after the step skips it.
  const take = (value: SavedValue | undefined, what: string) => {
    if (!value) throw new Error(`lean backward: ${record.node.name} reads ${what}, which it did not declare or already read`);
    return value.take();
  };
  return {
    ...record.node.analysis,
    saved: {
      input(index) {
        const value = record.inputs[index];
        record.inputs[index] = undefined;
        return take(value, `input ${index}`);
      },
      output() {
        const value = record.output;
        record.output = undefined;
        return take(value, 'its output');
      },
      extra(index) {
        const value = record.extras[index];
        record.extras[index] = undefined;
        return take(value, `extra ${index}`);
      },
      unbuiltInput(index, kind) {
        const unbuilt = record.inputs[index]?.takeUnbuilt(kind);
        if (unbuilt) record.inputs[index] = undefined;
        return unbuilt;
      },
    },
    // Kept, so that the step's tidy scope leaves the gradient to the receiver.
    deliver: (weight, gradient) => deliver(variableOf(weight), tf.keep(gradient)),
  };
}
