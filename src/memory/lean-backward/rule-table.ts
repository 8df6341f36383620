// Which rule runs each layer kind. Layers none of them covers run forward as they are and get their gradients from tfjs'
// autodiff (rules/autodiff-fallback.ts); the step logs which kinds those were.

import type { Layer, LayerRule } from './layer-rule.ts';
import { activationRule, reluLayerRule } from './rules/activation.ts';
import { autodiffFallbackRule } from './rules/autodiff-fallback.ts';
import { batchNormalizationRule } from './rules/batch-normalization.ts';
import { conv2dRule, depthwiseConv2dRule } from './rules/convolution.ts';
import { denseRule } from './rules/dense.ts';
import { dropoutRule } from './rules/dropout.ts';
import { addRule, concatenateRule, multiplyRule } from './rules/merge.ts';
import { averagePoolingRule, globalAveragePoolingRule, maxPoolingRule } from './rules/pooling.ts';
import { reshapeRule, zeroPaddingRule } from './rules/reshaping.ts';

export const layerRules: LayerRule[] = [
  conv2dRule,
  depthwiseConv2dRule,
  batchNormalizationRule,
  activationRule,
  reluLayerRule,
  denseRule,
  globalAveragePoolingRule,
  maxPoolingRule,
  averagePoolingRule,
  addRule,
  multiplyRule,
  concatenateRule,
  reshapeRule,
  zeroPaddingRule,
  dropoutRule,
];

/** The rule for a layer, or the autodiff fallback. */
export function ruleFor(layer: Layer): LayerRule {
  return layerRules.find((rule) => rule.handles(layer)) ?? autodiffFallbackRule;
}
