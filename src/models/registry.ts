// The built-in models by name: every family's table of variants, and what `streamfit models` lists about each.

import { efficientNetModels } from './efficientnet.ts';
import { inceptionV3Models } from './inception-v3.ts';
import { mobileNetV2Models } from './mobilenet-v2.ts';
import type { ModelDefinition, ModelFamily } from './model-definition.ts';
import { resNetModels } from './resnet.ts';
import { vggModels } from './vgg.ts';

export const registeredModels: readonly ModelDefinition[] = [
  ...efficientNetModels,
  ...resNetModels,
  ...vggModels,
  ...inceptionV3Models,
  ...mobileNetV2Models,
];

export const modelNames = registeredModels.map((definition) => definition.name);

export function findModel(name: string): ModelDefinition | undefined {
  return registeredModels.find((definition) => definition.name === name.toLowerCase());
}

export interface ModelDescription extends Record<string, unknown> {
  name: string;
  family: ModelFamily;
  resolution: number;
  /** With Keras' 1000-class ImageNet top, as Keras' count_params() gives it. */
  params: number;
  dropout: number;
  preprocessing: ModelDefinition['preprocessing'];
  blocks: number;
}

/** Builds each model with its ImageNet top at its native resolution (VGG's top depends on it) to count its parameters. */
export function describeModels(): ModelDescription[] {
  return registeredModels.map((definition) => {
    const model = definition.build({ includeTop: true, classes: 1000 });
    const params = model.countParams();
    model.dispose();
    return {
      name: definition.name,
      family: definition.family,
      resolution: definition.resolution,
      params,
      dropout: definition.dropout,
      preprocessing: definition.preprocessing,
      blocks: definition.blocks().length,
      ...definition.table,
    };
  });
}
