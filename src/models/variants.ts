// The EfficientNet compound-scaling table (Tan & Le 2019; Keras applications): one row per variant, no per-variant code.

export interface EfficientNetVariant {
  name: string;
  widthCoefficient: number;
  depthCoefficient: number;
  resolution: number;
  dropout: number;
}

export const efficientNetVariants: readonly EfficientNetVariant[] = [
  { name: 'efficientnet-b0', widthCoefficient: 1.0, depthCoefficient: 1.0, resolution: 224, dropout: 0.2 },
  { name: 'efficientnet-b1', widthCoefficient: 1.0, depthCoefficient: 1.1, resolution: 240, dropout: 0.2 },
  { name: 'efficientnet-b2', widthCoefficient: 1.1, depthCoefficient: 1.2, resolution: 260, dropout: 0.3 },
  { name: 'efficientnet-b3', widthCoefficient: 1.2, depthCoefficient: 1.4, resolution: 300, dropout: 0.3 },
  { name: 'efficientnet-b4', widthCoefficient: 1.4, depthCoefficient: 1.8, resolution: 380, dropout: 0.4 },
  { name: 'efficientnet-b5', widthCoefficient: 1.6, depthCoefficient: 2.2, resolution: 456, dropout: 0.4 },
  { name: 'efficientnet-b6', widthCoefficient: 1.8, depthCoefficient: 2.6, resolution: 528, dropout: 0.5 },
  { name: 'efficientnet-b7', widthCoefficient: 2.0, depthCoefficient: 3.1, resolution: 600, dropout: 0.5 },
];

/** The base network's stages (EfficientNet-B0): MBConv kernel, repeats, filters, expansion, stride. */
export const baseBlocks = [
  { kernelSize: 3, repeats: 1, filtersIn: 32, filtersOut: 16, expandRatio: 1, strides: 1 },
  { kernelSize: 3, repeats: 2, filtersIn: 16, filtersOut: 24, expandRatio: 6, strides: 2 },
  { kernelSize: 5, repeats: 2, filtersIn: 24, filtersOut: 40, expandRatio: 6, strides: 2 },
  { kernelSize: 3, repeats: 3, filtersIn: 40, filtersOut: 80, expandRatio: 6, strides: 2 },
  { kernelSize: 5, repeats: 3, filtersIn: 80, filtersOut: 112, expandRatio: 6, strides: 1 },
  { kernelSize: 5, repeats: 4, filtersIn: 112, filtersOut: 192, expandRatio: 6, strides: 2 },
  { kernelSize: 3, repeats: 1, filtersIn: 192, filtersOut: 320, expandRatio: 6, strides: 1 },
] as const;

export const squeezeExciteRatio = 0.25;
export const dropConnectRate = 0.2;

/** Channels scaled by the width coefficient, rounded to a multiple of 8 and never down by more than 10% (Keras' round_filters). */
export function roundFilters(filters: number, widthCoefficient: number, divisor = 8): number {
  const scaled = filters * widthCoefficient;
  let rounded = Math.max(divisor, Math.floor((scaled + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * scaled) rounded += divisor;
  return rounded;
}

export function roundRepeats(repeats: number, depthCoefficient: number): number {
  return Math.ceil(depthCoefficient * repeats);
}

export function findVariant(name: string): EfficientNetVariant | undefined {
  return efficientNetVariants.find((variant) => variant.name === name.toLowerCase());
}
