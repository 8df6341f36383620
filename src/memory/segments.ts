// Runs a functional tfjs model layer by layer, in segments (stem, each block, head), so a step can keep only
// the tensors at segment boundaries and recompute the inside of a segment during the backward pass.

import type * as tf from '@tensorflow/tfjs';
import { layerBlocks } from '../models/blocks.ts';

type Layer = tf.layers.Layer;

export interface Segment {
  name: string;
  layers: Layer[];
  /** Name of the layer whose output feeds this segment. */
  inputName: string;
  /** Name of the segment's last layer: its output is the next boundary. */
  outputName: string;
  variables: tf.Variable[];
}

/** One segment per block (layerBlocks: EfficientNet, ResNet, VGG, Inception and MobileNet blocks), with 'stem' and 'head'. */
export function segmentModel(model: tf.LayersModel): Segment[] {
  const segments: Segment[] = [];
  const inputName = model.layers[0].name; // the input layer
  for (const { layer, block } of layerBlocks(model)) {
    let segment = segments.at(-1);
    if (!segment || segment.name !== block) {
      segment = { name: block, layers: [], inputName: segment ? segment.outputName : inputName, outputName: '', variables: [] };
      segments.push(segment);
    }
    segment.layers.push(layer);
    segment.outputName = layer.name;
  }
  for (const segment of segments) {
    segment.variables = segment.layers.flatMap((layer) =>
      layer.trainableWeights.map((weight) => (weight as unknown as { val: tf.Variable }).val),
    );
  }
  return segments;
}

/** Applies a segment's layers to its input, following each layer's inbound connections. */
export function runSegment(segment: Segment, input: tf.Tensor, training: boolean): tf.Tensor {
  const values = new Map<string, tf.Tensor>([[segment.inputName, input]]);
  for (const layer of segment.layers) {
    const node = (layer as unknown as { inboundNodes: Array<{ inboundLayers: Layer[] }> }).inboundNodes[0];
    const inputs = node.inboundLayers.map((inbound) => {
      const value = values.get(inbound.name);
      if (!value) throw new Error(`segment ${segment.name}: layer ${layer.name} needs ${inbound.name}, which is outside the segment`);
      return value;
    });
    values.set(layer.name, layer.apply(inputs.length === 1 ? inputs[0] : inputs, { training }) as tf.Tensor);
  }
  return values.get(segment.outputName)!;
}
