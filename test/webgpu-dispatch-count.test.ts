import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { countDispatches } from '../src/backend/webgpu-dispatch-count.ts';

await selectBackend('webgpu');

test('counts dispatches by program, submits, passes and buffers, and restores the backend after', async () => {
  const x = tf.fill([2048], 2); // on the device (tfjs runs ops on small host tensors on the cpu)
  await tf.tidy(() => tf.add(x, x)).data(); // warm: pipelines and pooled buffers of these sizes exist
  const { result, counts } = await countDispatches(async () => {
    const y = tf.tidy(() => tf.mul(tf.add(x, x), tf.neg(x)));
    const values = await y.data();
    y.dispose();
    return Array.from(values.slice(0, 2));
  });
  assert.deepEqual(result, [-8, -8]);
  assert.equal(counts.dispatches, 3, JSON.stringify(counts));
  assert.deepEqual(counts.byProgram, { BinaryOpProgram: 2, UnaryOpProgram: 1 });
  // mul has the warm add's shapes, so the record cache finds its uniform block again; neg's is new.
  assert.equal(counts.uniformBuffers, 1);
  assert.ok(counts.submits >= 1 && counts.computePasses >= 1, JSON.stringify(counts));
  // Restored: nothing counted outside.
  const after = await countDispatches(() => 0);
  await tf.tidy(() => tf.add(x, 1)).data();
  assert.equal(after.counts.dispatches, 0);
  x.dispose();
});

test('host data goes up without a staging buffer or a broken pass: a warm scalar op creates no buffer', async () => {
  const x = tf.fill([300], 2);
  const run = async () => {
    const y = tf.tidy(() => tf.add(tf.mul(x, tf.scalar(0.5)), tf.tensor1d([1, 2, 3], 'int32').sum().cast('float32')));
    const values = await y.data();
    y.dispose();
    return values;
  };
  await run();
  const { result, counts } = await countDispatches(run);
  assert.deepEqual(Array.from(result.slice(0, 2)), [7, 7]);
  assert.equal(counts.buffersCreated, 0, JSON.stringify(counts));
  // int32 and bool uploads keep their values.
  const flags = tf.tensor1d([true, false, true], 'bool');
  const picked = tf.where(flags, tf.tensor1d([1, 2, 3]), tf.tensor1d([-1, -2, -3]));
  assert.deepEqual(Array.from(await picked.data()), [1, -2, 3]);
  tf.dispose([x, flags, picked]);
});
