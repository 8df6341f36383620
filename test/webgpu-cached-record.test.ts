import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/ladder.ts';
import { recordCacheCounts, recordCacheLimits, recordCaching } from '../src/backend/webgpu-cached-record.ts';
import { releasePooledBuffers } from '../src/backend/webgpu-memory.ts';
import { handOutInFixedOrder } from '../src/backend/webgpu-pool-order.ts';
import { uniformWords } from '../src/backend/webgpu-uniform-block.ts';
import { seededRandom } from '../src/math/random.ts';

await selectBackend('webgpu');

/** Every uniform block written through the queue while `body` runs, as 32-bit words, in order. */
async function uniformWrites(body: () => unknown): Promise<Int32Array[]> {
  const queue = (tf.backend() as unknown as { queue: GPUQueue }).queue;
  const writeBuffer = queue.writeBuffer;
  const written: Int32Array[] = [];
  queue.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: ArrayBuffer, dataOffset = 0, size?: number) {
    if (buffer.usage & GPUBufferUsage.UNIFORM) written.push(new Int32Array(data.slice(dataOffset, dataOffset + (size ?? data.byteLength))));
    return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
  } as typeof writeBuffer;
  try {
    await body();
  } finally {
    delete (queue as Partial<GPUQueue>).writeBuffer;
    if (queue.writeBuffer !== writeBuffer) queue.writeBuffer = writeBuffer;
  }
  return written;
}

interface Recorded {
  program: { size?: boolean; outputShape: number[]; outputComponent?: number; constructor: { name: string } };
  output: { shape: number[] };
  inputs: { shape: number[] }[];
  uniforms?: { type: string; data: number[] }[];
}

/** Ops whose programs cover ranks 0 to 6, broadcasting, int32 and float program fields, sizes and vec4 outputs. */
function variedOps(): tf.Tensor[] {
  const a = tf.fill([2, 5, 7, 3], 1.5);
  const rank6 = tf.fill([2, 1, 3, 2, 2, 3], 2);
  return [
    tf.add(a, tf.fill([3], 0.25)),
    tf.mul(tf.fill([], 3), tf.fill([4], 2)),
    tf.clipByValue(a, -0.5, 0.5),
    tf.sum(a, [1, 2]),
    tf.conv2d(a as tf.Tensor4D, tf.fill([3, 3, 3, 4], 0.1) as tf.Tensor4D, [2, 1], 'same'),
    tf.depthwiseConv2d(a as tf.Tensor4D, tf.fill([3, 3, 3, 2], 0.1) as tf.Tensor4D, 1, 'valid'),
    tf.matMul(tf.fill([5, 6], 1), tf.fill([6, 7], 2)),
    tf.pad(a, [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ]),
    tf.slice(a, [0, 1, 2, 0], [1, 3, 4, 3]),
    tf.transpose(rank6, [5, 4, 3, 2, 1, 0]),
    tf.mul(rank6, tf.fill([2, 1, 3, 2, 2, 3], 0.5)),
    tf.fill([3, 3], 7, 'int32'),
  ];
}

test('the uniform block is the one tfjs writes, byte for byte, for programs of every rank and kind', async () => {
  const backend = tf.backend() as unknown as {
    recordAndSubmit(...args: unknown[]): void;
    queue: GPUQueue;
  };
  const recorded: Recorded[] = [];
  const { recordAndSubmit } = backend;
  recordCaching.enabled = false;
  backend.recordAndSubmit = function (program, output, inputs, uniforms) {
    recorded.push({ program, output, inputs, uniforms } as Recorded);
    return recordAndSubmit.call(this, program, output, inputs, uniforms);
  };
  let written: Int32Array[];
  try {
    written = await uniformWrites(async () => {
      const results = variedOps();
      await Promise.all(results.map((t) => t.data()));
      tf.dispose(results);
    });
  } finally {
    recordCaching.enabled = true;
    backend.recordAndSubmit = recordAndSubmit;
  }
  assert.ok(recorded.length >= 12, `${recorded.length} programs recorded`);
  assert.equal(written.length, recorded.length);
  recorded.forEach(({ program, output, inputs, uniforms }, i) => {
    const ours = uniformWords(program, output, inputs, uniforms)!;
    assert.deepEqual(Array.from(ours), Array.from(written[i]), `${program.constructor.name} (${inputs.map((t) => `[${t.shape}]`)})`);
  });
});

test("the uniform block equals tfjs' makeUniforms over random programs: ranks 0–6, sizes, int32, uint32 and float32 fields, empty ones", async () => {
  const backend = tf.backend() as unknown as { makeUniforms(fields: { type: string; data: number[] }[]): unknown };
  const random = seededRandom('uniform blocks');
  const integer = (below: number) => Math.floor(random() * below);
  const shape = () => Array.from({ length: integer(7) }, () => 1 + integer(9));
  for (let trial = 0; trial < 500; trial++) {
    const inputs = Array.from({ length: 1 + integer(3) }, () => ({ shape: shape() }));
    const output = { shape: shape() };
    const program = { size: random() < 0.5, outputShape: output.shape, outputComponent: [undefined, 1, 2, 4][integer(4)] };
    const own = Array.from({ length: integer(4) }, () => {
      const type = ['int32', 'uint32', 'float32'][integer(3)];
      const data = Array.from({ length: integer(5) }, () =>
        type === 'uint32' ? integer(1000) : type === 'int32' ? integer(2000) - 1000 : random() * 10 - 5,
      );
      return { type, data };
    });
    // tfjs' own list, as its recordAndSubmit builds it (makeUniforms rewrites an empty field in place, so copies go in).
    const fields = [
      { type: 'float32', data: [Number.NaN] },
      { type: 'float32', data: [Number.POSITIVE_INFINITY] },
      ...[...inputs, output].flatMap(({ shape }) => [
        { type: 'int32', data: [...shape] },
        { type: 'int32', data: tf.util.computeStrides(shape) },
      ]),
      ...(program.size ? [{ type: 'int32', data: [tf.util.sizeFromShape(output.shape) / (program.outputComponent || 1)] }] : []),
      ...own.map(({ type, data }) => ({ type, data: [...data] })),
    ];
    const [written] = await uniformWrites(() => backend.makeUniforms(fields));
    const ours = uniformWords(program, output, inputs, own);
    assert.ok(written && ours, `trial ${trial}`);
    assert.deepEqual(Array.from(ours), Array.from(written), `trial ${trial}: ${JSON.stringify({ inputs, output, program, own })}`);
  }
});

test('a block past the scratch array goes through tfjs, and the next block is unharmed', () => {
  const many = Array.from({ length: 300 }, () => ({ type: 'int32', data: [1, 2, 3, 4, 5] }));
  assert.equal(uniformWords({ outputShape: [4] }, { shape: [4] }, [{ shape: [4] }], many), undefined);
  const small = uniformWords({ outputShape: [4] }, { shape: [4] }, [{ shape: [4] }])!;
  assert.deepEqual(Array.from(small.slice(2)), [4, 1, 4, 1]);
});

test('after the pool is released (a phase change, an out-of-memory error) the caches start again and compute the right values', async () => {
  const x = tf.fill([300], 3);
  const run = async () => {
    const y = tf.tidy(() => tf.add(tf.mul(x, x), x));
    const values = await y.data();
    y.dispose();
    return values[0];
  };
  assert.equal(await run(), 12);
  const counts = recordCacheCounts(tf.backend())!;
  assert.ok(counts.uniformBuffers > 0 && counts.bindGroups > 0);
  releasePooledBuffers();
  assert.equal(counts.uniformBuffers, 0, 'the uniform buffers were destroyed');
  assert.equal(counts.bindGroups, 0);
  const device = (tf.backend() as unknown as { device: GPUDevice }).device;
  device.pushErrorScope('validation');
  assert.equal(await run(), 12);
  assert.equal(await run(), 12);
  assert.equal(await device.popErrorScope(), null, 'no destroyed buffer was bound');
  assert.ok(counts.uniformBuffers > 0 && counts.bindGroupHits > 0);
  x.dispose();
});

test('past the bind group bound the cache starts again, with the right values', async () => {
  const x = tf.fill([64], 2);
  const counts = recordCacheCounts(tf.backend())!;
  const saved = { ...recordCacheLimits };
  recordCacheLimits.bindGroups = 2;
  try {
    for (let i = 0; i < 4; i++) {
      const y = tf.tidy(() => tf.add(tf.mul(x, i), tf.neg(x)));
      assert.equal((await y.data())[0], 2 * i - 2);
      y.dispose();
      assert.ok(counts.bindGroups <= 2, `${counts.bindGroups} bind groups cached`);
    }
  } finally {
    Object.assign(recordCacheLimits, saved);
    x.dispose();
  }
});

test('a warm repeat finds every uniform block and bind group again, and computes what tfjs computes itself', async () => {
  const x = tf.randomNormal([4, 9, 9, 3], 0, 1, 'float32', 1);
  const filter = tf.variable(tf.randomNormal([3, 3, 3, 8], 0, 0.3, 'float32', 2));
  const run = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () =>
          tf
            .relu(tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 2, 'same'))
            .square()
            .mean() as tf.Scalar,
      );
      return tf.concat([value.reshape([1]), grads[filter.name].flatten()]);
    });
  const values = async (enabled: boolean) => {
    recordCaching.enabled = enabled;
    const result = run();
    try {
      return await result.data();
    } finally {
      result.dispose();
      recordCaching.enabled = true;
    }
  };
  const expected = await values(false);
  await values(true);
  await values(true);
  const counts = recordCacheCounts(tf.backend())!;
  const before = { ...counts };
  const numTensors = tf.memory().numTensors;
  const warm = await values(true);
  assert.deepEqual(Array.from(warm), Array.from(expected));
  const dispatches = counts.uniformHits - before.uniformHits;
  assert.ok(dispatches > 5, `${dispatches} dispatches`);
  assert.equal(counts.uniformBuffers, before.uniformBuffers, 'no new uniform block');
  assert.equal(counts.bindGroupHits - before.bindGroupHits, dispatches, 'every bind group found again');
  assert.equal(counts.fallbacks, before.fallbacks);
  assert.equal(tf.memory().numTensors, numTensors);
  tf.dispose([x, filter]);
});

test('uniforms that change every call stop at the cache bound and go through tfjs, with the right values', async () => {
  const x = tf.fill([64], 1);
  await x.data();
  const counts = recordCacheCounts(tf.backend())!;
  const saved = { ...recordCacheLimits };
  recordCacheLimits.uniformBuffers = counts.uniformBuffers + 3;
  try {
    const fallbacks = counts.fallbacks;
    for (let i = 1; i <= 6; i++) {
      // clipByValue carries its bounds as program fields: a new uniform block each time.
      const y = tf.clipByValue(x, -i, 1 / (i + 1));
      assert.equal((await y.data())[0], Math.fround(1 / (i + 1)));
      y.dispose();
    }
    assert.equal(counts.uniformBuffers, recordCacheLimits.uniformBuffers, 'three new blocks cached, then no more');
    assert.equal(counts.fallbacks - fallbacks, 3);
  } finally {
    Object.assign(recordCacheLimits, saved);
    x.dispose();
  }
});

test('the pool hands out the free buffer it saw first, whatever order buffers were freed in', () => {
  const buffers = Array.from({ length: 4 }, () => ({ size: 16, usage: 128 }) as unknown as GPUBuffer);
  const pool = {
    freeBuffers: new Map<string, GPUBuffer[]>([['16_128', []]]),
    releaseBuffer(buffer: GPUBuffer) {
      this.freeBuffers.get(`${buffer.size}_${buffer.usage}`)!.push(buffer);
    },
  };
  handOutInFixedOrder(pool);
  const list = pool.freeBuffers.get('16_128')!;
  for (const i of [0, 1, 2, 3]) pool.releaseBuffer(buffers[i]); // ranks 0..3, first seen first
  assert.equal(list.pop(), buffers[0]);
  assert.equal(list.pop(), buffers[1]);
  pool.releaseBuffer(buffers[1]);
  pool.releaseBuffer(buffers[0]);
  // tfjs pops from the end: the lowest rank comes out first, not the last one freed.
  assert.deepEqual([list.pop(), list.pop(), list.pop(), list.pop()], [buffers[0], buffers[1], buffers[2], buffers[3]]);
});
