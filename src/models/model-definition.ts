// What the registry knows about a built-in model: one entry per variant of a family table, with its builder and its blocks.

import type * as tf from '@tensorflow/tfjs';

export type ModelFamily = 'efficientnet' | 'resnet' | 'vgg' | 'inception' | 'mobilenet';

/**
 * How the model turns RGB in [0, 255] into what its first convolution expects (Keras' preprocess_input modes), inside the
 * model: 'imagenet' scales to [0, 1] and normalizes by ImageNet mean and deviation (EfficientNet), 'caffe' flips to BGR and
 * subtracts the ImageNet mean (ResNet v1, VGG), 'symmetric' scales to [−1, 1] (ResNet v2, Inception, MobileNet).
 */
export type InputPreprocessing = 'imagenet' | 'caffe' | 'symmetric';

export interface BuildOptions {
  /** Square input side; defaults to the variant's resolution. */
  imageSize?: number;
  /** With Keras' ImageNet top (its classifier layers), or ending at the last feature map. */
  includeTop?: boolean;
  classes?: number;
  /** EfficientNet's stochastic-depth rate at the last block; other families have none. */
  dropConnectRate?: number;
}

export interface ModelDefinition {
  name: string;
  family: ModelFamily;
  /** The input side the ImageNet weights were trained at. */
  resolution: number;
  /** The smallest input side the network's valid convolutions and poolings leave a feature map for. */
  minResolution: number;
  /** Dropout before the classifier streamfit adds for transfer learning. */
  dropout: number;
  preprocessing: InputPreprocessing;
  /** The variant's own row of its family table (depths, widths…), as `streamfit models` lists it. */
  table: Record<string, unknown>;
  build(options?: BuildOptions): tf.LayersModel;
  /** The blocks (or stages) in order, bottom to top: the units of freezing the top k and of recomputation. */
  blocks(): string[];
}
