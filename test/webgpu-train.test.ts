import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { countDispatches } from '../src/backend/webgpu-dispatch-count.ts';
import { gpuBytes } from '../src/backend/webgpu-memory.ts';
import { webgpuInternals } from '../src/kernels/webgpu/direct-dispatch.ts';
import { variablesPerDispatch } from '../src/kernels/webgpu/fused-update.ts';
import { createModel } from '../src/models/create-model.ts';
import { buildEfficientNet } from '../src/models/efficientnet.ts';
import { type BackoffEvent, Trainer } from '../src/train/trainer.ts';
import { sliceBatch, syntheticBatch } from './helpers/batches.ts';

// The software adapter `make webgpu-sim` installs (slow: a B0 step at 64 px takes seconds), or a GPU.
await selectBackend('webgpu');

/** EfficientNet's blocks (single-op BatchNorm and swish, squeeze-excite) at a fraction of B0's width and depth. */
function tinyEfficientNet(): tf.LayersModel {
  const variant = { name: 'efficientnet-tiny', widthCoefficient: 0.25, depthCoefficient: 0.25, resolution: 32, dropout: 0 };
  return buildEfficientNet(variant, { imageSize: 32, includeTop: true, classes: 3, dropConnectRate: 0 });
}

test('EfficientNet-B0 at 64 px trains through the Trainer on webgpu: the loss falls, tensors and GPU bytes stay flat', async () => {
  const { model } = await createModel('efficientnet-b0', { classes: 3, imageSize: 64, dropout: 0 });
  const trainer = new Trainer({ model, optimizer: { name: 'adam', lr: 1e-3 }, accumulate: 1 });
  const batch = syntheticBatch(4, 64, 3, 1);
  const losses: number[] = [];
  const memory: Array<{ tensors: number; bytes: number }> = [];
  try {
    for (let step = 0; step < 5; step++) {
      const result = await trainer.step(batch);
      assert.ok(result.applied && result.update, 'accumulate 1 applies every step and reads its loss');
      losses.push(result.update.loss);
      memory.push({ tensors: tf.memory().numTensors, bytes: gpuBytes()!.allocated });
    }
  } finally {
    trainer.dispose();
    model.dispose();
  }
  // One batch, seen again and again: the loss must drop well below where it started (Adam may then overshoot).
  assert.ok(Math.min(...losses.slice(1)) < losses[0] / 2, `loss ${losses.map((loss) => loss.toFixed(3)).join(' → ')}`);
  assert.ok(losses.every(Number.isFinite));
  // After two updates (kernels compiled, optimizer slots made, the pool holding a step's buffers) nothing grows.
  for (const point of memory.slice(3)) assert.deepEqual(point, memory[2], JSON.stringify(memory));
});

test('50 steps after warm-up leave numTensors and numBytesAllocatedInGPU where they were', async () => {
  const model = tinyEfficientNet();
  const trainer = new Trainer({ model, optimizer: { name: 'adam', lr: 1e-3 }, accumulate: 2 });
  const batches = [syntheticBatch(2, 32, 3, 2), syntheticBatch(2, 32, 3, 3)];
  try {
    for (let step = 0; step < 4; step++) await trainer.step(batches[step % 2]); // two updates: the pool is warm
    const before = { tensors: tf.memory().numTensors, bytes: gpuBytes()!.allocated };
    for (let step = 0; step < 50; step++) await trainer.step(batches[step % 2]);
    assert.deepEqual({ tensors: tf.memory().numTensors, bytes: gpuBytes()!.allocated }, before);
  } finally {
    trainer.dispose();
    model.dispose();
  }
});

test('recomputation on webgpu gives the gradients of the plain step and keeps tensors flat', async () => {
  const model = tinyEfficientNet();
  const initial = model.getWeights().map((weight) => weight.clone());
  const batch = syntheticBatch(2, 32, 3, 4);
  const trainedWeights = async (recompute: boolean) => {
    model.setWeights(initial);
    const trainer = new Trainer({ model, optimizer: { name: 'sgd', lr: 0.1 }, accumulate: 1, recompute });
    await trainer.step(batch);
    const tensors = tf.memory().numTensors;
    await trainer.step(batch);
    assert.equal(tf.memory().numTensors, tensors, `recompute ${recompute}: tensors flat`);
    const weights = await Promise.all(model.trainableWeights.map((weight) => weight.read().data()));
    trainer.dispose();
    return weights as Float32Array[];
  };
  try {
    const plain = await trainedWeights(false);
    const recomputed = await trainedWeights(true);
    let difference = 0;
    plain.forEach((values, i) => values.forEach((value, j) => (difference = Math.max(difference, Math.abs(value - recomputed[i][j])))));
    assert.ok(difference <= 1e-4, `weights differ by ${difference}`);
  } finally {
    tf.dispose(initial);
    model.dispose();
  }
});

test('over the --memory budget on webgpu the micro-batch is split and every sample still trains', async () => {
  const model = tinyEfficientNet();
  const batch = syntheticBatch(8, 32, 3, 5);
  // The GPU peak of half the micro-batch, measured by a trainer like the one under test: the whole does not fit in it.
  const probe = new Trainer({ model, optimizer: { name: 'sgd', lr: 0.01 }, accumulate: 1, memoryBudgetBytes: 2 ** 40 });
  await probe.step(sliceBatch(batch, 0, 4));
  const halfPeak = probe.lastPeakBytes;
  probe.dispose();
  const events: BackoffEvent[] = [];
  const trainer = new Trainer({
    model,
    optimizer: { name: 'sgd', lr: 0.01 },
    accumulate: 1,
    memoryBudgetBytes: Math.ceil(halfPeak * 1.25), // the whole needs ~1.8× the half
    onBackoff: (event) => events.push(event),
  });
  try {
    const result = await trainer.step(batch);
    assert.ok(halfPeak > 0, 'the GPU peak was measured');
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(trainer.chunks, 2);
    assert.equal(result.update?.samples, 8, 'the same 8 samples trained');
  } finally {
    trainer.dispose();
    model.dispose();
  }
});

test('a warm Trainer step on webgpu updates its variables a few to a dispatch, fuses swish into BatchNorm and x·s into its projection, and creates no buffer', async () => {
  const model = tinyEfficientNet();
  const trainer = new Trainer({ model, optimizer: { name: 'adamw', lr: 1e-3, weightDecay: 0.01 }, accumulate: 1 });
  const batch = syntheticBatch(2, 32, 3, 6);
  try {
    for (let step = 0; step < 2; step++) await trainer.step(batch); // kernels compiled, slots made, the pool warm
    const { counts } = await countDispatches(() => trainer.step(batch));
    const byProgram = counts.byProgram;
    const perDispatch = variablesPerDispatch('adam', webgpuInternals().device.limits.maxStorageBuffersPerShaderStage);
    assert.equal(
      byProgram.Streamfit_adamw_update ?? byProgram.Streamfit_adam_update,
      Math.ceil(model.trainableWeights.length / perDispatch),
      JSON.stringify(byProgram),
    );
    assert.equal(byProgram.Streamfit_accumulated_betas, 1);
    // Accumulators are zeroed inside the update (no FillProgram each), and each BatchNorm's moments take two dispatches, the
    // second of which also moves the moving statistics.
    assert.ok((byProgram.FillProgram ?? 0) <= 1, JSON.stringify(byProgram)); // one zeros tensor in the loss, none per accumulator
    const batchNorms = model.layers.filter((layer) => layer.getClassName() === 'BatchNormalization').length;
    assert.equal(byProgram.Streamfit_channel_moments, batchNorms);
    assert.equal(byProgram.Streamfit_channel_moments_merge, batchNorms);
    assert.equal(byProgram.Streamfit_moving_statistics, undefined, JSON.stringify(byProgram));
    assert.equal(byProgram.Streamfit_batch_norm_gradient_sums, batchNorms, 'BatchNorm backward: one pass for dβ and dγ');
    assert.equal(byProgram.Streamfit_batch_norm_sums, batchNorms, 'and one adding up the splits of both');
    assert.equal(byProgram.Streamfit_batch_norm_input_gradient, batchNorms, 'and one for dx (every one feeds a convolution)');
    // Swish after BatchNorm is differentiated, and rebuilt, straight from BatchNorm's input: BatchNorm's output is rebuilt
    // only where no swish follows (the projections, read by the residual sum's consumer).
    const swishesAfterBatchNorm = model.layers.filter(
      (layer) =>
        layer.getClassName() === 'Activation' &&
        (layer.getConfig() as { activation?: string }).activation === 'swish' &&
        layer.inboundNodes[0].inboundLayers[0].getClassName() === 'BatchNormalization',
    ).length;
    assert.ok(swishesAfterBatchNorm > 0);
    assert.equal(byProgram.Streamfit_batch_norm_swish_gradient, swishesAfterBatchNorm, JSON.stringify(byProgram));
    // In the forward pass BatchNorm and the swish after it are one pass, and tfjs' BatchNorm kernel runs nowhere; the
    // affine map runs once forward and at most once rebuilt for each BatchNorm that no swish follows.
    assert.ok(byProgram.Streamfit_batch_norm_swish >= swishesAfterBatchNorm, JSON.stringify(byProgram));
    assert.equal(byProgram.BatchNormProgram, undefined, JSON.stringify(byProgram));
    assert.ok((byProgram.Streamfit_batch_norm_affine ?? 0) <= 2 * (batchNorms - swishesAfterBatchNorm), JSON.stringify(byProgram));
    // Each squeeze-and-excitation product x·s is never rebuilt: its projection's filter gradient reads x and s.
    const excitations = model.layers.filter((layer) => layer.getClassName() === 'Multiply').length;
    assert.ok(excitations > 0);
    assert.equal(byProgram.Streamfit_conv2d_filter_grad_scaled, excitations, JSON.stringify(byProgram));
    assert.equal(counts.buffersCreated, 0, JSON.stringify(counts));
  } finally {
    trainer.dispose();
    model.dispose();
  }
});
