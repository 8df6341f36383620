// The entry point the trainer calls instead of tf.variableGrads: one chunk's forward pass, loss and lean backward pass,
// every weight gradient handed to `deliver` (the trainer adds it into its accumulator), the summed loss returned.
// With recomputation only segment boundaries are kept and each segment is rerun, taped, just before its backward step.

import type * as tf from '@tensorflow/tfjs';
import { segmentModel } from '../segments.ts';
import { crossEntropyWithGradient } from './cross-entropy.ts';
import { analyseLayers, type LayerGraph, UnsupportedGraph, variableOf } from './layer-graph.ts';
import { runBackward, runForward } from './lean-tape.ts';

export interface LeanStepOptions {
  labelSmoothing: number;
  /** The loss is the batch mean times this (the trainer passes the chunk's sample count, so chunks add up). */
  lossScale: number;
  /** Receives each trainable variable's gradient once per step; ownership passes with it. */
  deliver(variable: tf.Variable, gradient: tf.Tensor): void;
  /** Keep only segment boundaries in the forward pass and rerun each segment in the backward pass. */
  recompute?: boolean;
  /** Seeds the dropout masks under recomputation, so a rerun segment drops what its first pass dropped. */
  seed?: number;
}

interface Analysis {
  key: string;
  whole: LayerGraph;
  segments?: LayerGraph[];
}

export class LeanBackward {
  private analysis?: Analysis;

  constructor(readonly model: tf.LayersModel) {}

  /** Layer classes that need a gradient but have no rule (they use tfjs' autodiff), once per class. Throws UnsupportedGraph. */
  autodiffLayers(recompute = false): string[] {
    const analysis = this.analyse(recompute);
    const graphs = recompute ? analysis.segments! : [analysis.whole];
    return [...new Set(graphs.flatMap((graph) => graph.autodiffLayers))];
  }

  /** The analysed graph of the whole model, for the planner. */
  graph(): LayerGraph {
    return this.analyse(false).whole;
  }

  /** The analysed segments (recomputation), for the planner. */
  segmentGraphs(): LayerGraph[] {
    return this.analyse(true).segments!;
  }

  /** Forward, loss and backward of one chunk; returns the scaled loss. */
  step(x: tf.Tensor, labels: tf.Tensor1D, options: LeanStepOptions): tf.Scalar {
    return options.recompute ? this.recomputedStep(x, labels, options) : this.plainStep(x, labels, options);
  }

  private plainStep(x: tf.Tensor, labels: tf.Tensor1D, options: LeanStepOptions): tf.Scalar {
    const graph = this.analyse(false).whole;
    const { output, tape } = runForward(graph, new Map([[graph.sources[0].name, x]]), { record: true, updateStatistics: true });
    let loss: tf.Scalar | undefined;
    try {
      const result = this.lossOf(output, labels, options);
      loss = result.loss;
      runBackward(graph, tape, result.gradient, options.deliver);
      return loss;
    } catch (error) {
      loss?.dispose();
      throw error;
    } finally {
      tape.dispose();
    }
  }

  private recomputedStep(x: tf.Tensor, labels: tf.Tensor1D, options: LeanStepOptions): tf.Scalar {
    const graphs = this.analyse(true).segments!;
    const releaseSeeds = fixDropoutSeeds(this.model, options.seed ?? Math.floor(Math.random() * 2 ** 30));
    const boundaries: tf.Tensor[] = [x];
    // Below the lowest segment that has something to learn nothing needs a gradient, and nothing is rerun.
    const lowest = Math.max(
      0,
      graphs.findIndex((graph) => graph.nodes.some((node) => node.needsGradient)),
    );
    const drop = (index: number) => {
      if (index > 0) boundaries[index]?.dispose();
      boundaries[index] = undefined as unknown as tf.Tensor;
    };
    let dy: tf.Tensor | undefined;
    let loss: tf.Scalar | undefined;
    try {
      for (let i = 0; i < graphs.length - 1; i++) {
        const { output, tape } = runForward(graphs[i], new Map([[graphs[i].sources[0].name, boundaries[i]]]), {
          record: false,
          updateStatistics: true,
        });
        tape.dispose();
        boundaries.push(output);
        if (i < lowest) drop(i);
      }
      for (let i = graphs.length - 1; i >= lowest; i--) {
        const graph = graphs[i];
        const isHead = i === graphs.length - 1;
        // The head runs once, here; every other segment already ran (and updated its statistics) in the first pass.
        const { output, tape } = runForward(graph, new Map([[graph.sources[0].name, boundaries[i]]]), {
          record: true,
          updateStatistics: isHead,
        });
        try {
          let upstream: tf.Tensor;
          if (isHead) {
            const result = this.lossOf(output, labels, options);
            loss = result.loss;
            upstream = result.gradient;
          } else {
            output.dispose();
            upstream = dy!;
          }
          dy = undefined;
          dy = runBackward(graph, tape, upstream, options.deliver).get(graph.sources[0].name);
        } finally {
          tape.dispose();
        }
        drop(i);
      }
      return loss!;
    } catch (error) {
      loss?.dispose();
      throw error;
    } finally {
      dy?.dispose();
      for (let i = 1; i < boundaries.length; i++) boundaries[i]?.dispose();
      releaseSeeds();
    }
  }

  private lossOf(output: tf.Tensor, labels: tf.Tensor1D, options: LeanStepOptions) {
    try {
      return crossEntropyWithGradient(output as tf.Tensor2D, labels, options.labelSmoothing, options.lossScale);
    } finally {
      output.dispose();
    }
  }

  private analyse(recompute: boolean): Analysis {
    const trainable = new Set(this.model.trainableWeights.map((weight) => variableOf(weight)));
    const key = `${this.model.layers.map((layer) => (layer.trainable ? 1 : 0)).join('')}/${[...trainable].map((v) => v.id).join(',')}`;
    if (this.analysis?.key !== key) {
      const layers = this.model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
      const input = this.model.inputLayers[0].name;
      const output = (this.model.outputs[0] as unknown as { sourceLayer: tf.layers.Layer }).sourceLayer.name;
      if (this.model.inputs.length !== 1 || this.model.outputs.length !== 1)
        throw new UnsupportedGraph('the model has several inputs or outputs');
      this.analysis = { key, whole: analyseLayers(layers, [{ name: input, needsGradient: false }], output, trainable) };
    }
    if (recompute && !this.analysis.segments) {
      const whole = this.analysis.whole;
      const needsGradient = new Map(whole.nodes.map((node) => [node.name, node.needsGradient]));
      const segments = segmentModel(this.model);
      if (segments.length < 3) throw new UnsupportedGraph('recomputation needs a model made of blocks (EfficientNet)');
      this.analysis.segments = segments.map((segment) =>
        analyseLayers(
          segment.layers,
          [{ name: segment.inputName, needsGradient: needsGradient.get(segment.inputName) ?? false }],
          segment.outputName,
          trainable,
        ),
      );
    }
    return this.analysis;
  }
}

/** Same dropout masks in the first pass and the rerun: every dropout layer gets a fixed seed for this step. */
function fixDropoutSeeds(model: tf.LayersModel, seed: number): () => void {
  const layers = model.layers.filter((layer) => layer.getClassName() === 'Dropout') as unknown as Array<{ seed?: number }>;
  const previous = layers.map((layer) => layer.seed);
  layers.forEach((layer, i) => (layer.seed = seed + i));
  return () => layers.forEach((layer, i) => (layer.seed = previous[i]));
}
