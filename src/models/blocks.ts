// Which block each layer of a model belongs to, read off Keras' layer names and the graph: the units that freezing opens
// from the top and that recomputation reruns. Each block is a run of layers that only the block before it feeds.

import type * as tf from '@tensorflow/tfjs';

type Layer = tf.layers.Layer;

/** Keras' block prefixes: EfficientNet block3b_…, ResNet conv4_block12_…, VGG block3_…, MobileNetV2 expanded_conv_… and block_7_…. */
const blockPrefixes = [/^(block\d+[a-z]+)_/, /^(conv\d+_block\d+)_/, /^(block\d+)_/, /^(expanded_conv|block_\d+)_/];
/** Blocks named only by their last layer, Keras leaving the inner ones unnamed: InceptionV3's mixed0 … mixed10. */
const blockEnds = /^mixed\d+$/;

export interface LayerBlock {
  layer: Layer;
  /** The block's name, or 'stem' (before the first block) or 'head' (after the last). */
  block: string;
}

function inboundLayers(layer: Layer): Layer[] {
  return (layer as unknown as { inboundNodes: Array<{ inboundLayers: Layer[] }> }).inboundNodes[0]?.inboundLayers ?? [];
}

function namedBlock(layer: Layer): string | undefined {
  for (const pattern of blockPrefixes) {
    const match = pattern.exec(layer.name);
    if (match) return match[1];
  }
  return blockEnds.test(layer.name) ? layer.name : undefined;
}

/**
 * Every layer but the input, in the model's order (tfjs orders by depth, so a block's layers are contiguous), with its block.
 * The model is cut after each layer whose output is the only tensor that later layers still need; between two cuts lies
 * a piece that depends on nothing but its input. A piece takes the block name its layers carry (an unnamed layer inside a
 * block, such as ResNetV2's max_pooling2d shortcut or InceptionV3's conv2d_17, goes with its piece), and consecutive pieces
 * of one name form the block. Unnamed pieces before the first block are the stem, after the last the head.
 */
export function layerBlocks(model: tf.LayersModel): LayerBlock[] {
  const all = model.layers;
  const position = new Map(all.map((layer, i) => [layer.name, i]));
  const lastUse = all.map((_, i) => i);
  all.forEach((layer, i) => {
    for (const inbound of inboundLayers(layer)) {
      const from = position.get(inbound.name);
      if (from !== undefined) lastUse[from] = Math.max(lastUse[from], i);
    }
  });
  const pieces: Array<{ layers: Layer[]; name?: string }> = [];
  let current: Layer[] = [];
  let neededLater = -1; // the furthest position that a tensor made before the current layer is used at
  all.forEach((layer, i) => {
    if (layer.getClassName() !== 'InputLayer') current.push(layer);
    // A cut after layer i: nothing made before it is needed after it.
    if (neededLater <= i && current.length > 0) {
      const named = current.map(namedBlock).filter((name) => name !== undefined);
      pieces.push({ layers: current, name: named.at(-1) });
      current = [];
    }
    neededLater = Math.max(neededLater, lastUse[i]);
  });
  // (The last layer always closes a piece: nothing is needed after it.)
  const named = pieces.flatMap((piece, i) => (piece.name === undefined ? [] : [i]));
  const [first, last] = [named[0] ?? -1, named.at(-1) ?? -1];
  let previous = 'stem';
  return pieces.flatMap((piece, i) => {
    // An unnamed piece between two blocks goes with the block before it.
    const block = piece.name ?? (first === -1 || i < first ? 'stem' : i > last ? 'head' : previous);
    previous = block;
    return piece.layers.map((layer) => ({ layer, block }));
  });
}
