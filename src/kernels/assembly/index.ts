// The streamfit wasm kernels: one module, compiled by scripts/build-kernels.ts to kernels.wasm, which imports tfjs-wasm's memory.
// No allocation, no static data: the module must never write outside the buffers the host hands it.

export { batchNormalize } from './batch-norm';
export { batchNormBackward } from './batch-norm-backward';
export { channelMoments } from './batch-norm-moments';
export { updateMovingStatistics } from './batch-norm-moving';
export { convFilterGradient, pointwiseFilterGradient } from './conv-filter';
export { pointwiseConvolution, pointwiseInputGradient } from './conv-input';
export { copyBlocks } from './copy-blocks';
export { depthwiseFilterGradient, depthwiseInputGradient } from './depthwise';
export { adamUpdate, momentumUpdate, rmspropUpdate, sgdUpdate } from './optimizers';
export { sumMiddleAxis } from './reduce';
export { swishGradient } from './swish';
