import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { orderedMap } from '../src/stream/ordered-map.ts';
import { prefetch } from '../stages/prefetch.ts';
import { testContext } from './helpers/context.ts';

interface Item {
  id: number;
  bytes: number;
}

function counted(total: number, bytes: number, produced: { count: number }, delayMs = 0) {
  return (async function* () {
    for (let id = 0; id < total; id++) {
      if (delayMs) await sleep(delayMs);
      produced.count++;
      yield { id, bytes } satisfies Item;
    }
  })();
}

test('holds at most maxBytes: the producer waits for the consumer', async () => {
  const produced = { count: 0 };
  const stage = prefetch<Item>({ maxBytes: 1000, maxItems: 100 });
  const seen: number[] = [];
  for await (const item of stage(counted(50, 300, produced), testContext())) {
    await sleep(2);
    seen.push(item.id);
    // Queue (≤ 3 items of 300 bytes) + one in the producer's hand + the one we hold.
    assert.ok(produced.count - seen.length <= 4, `producer ran ${produced.count - seen.length} ahead`);
  }
  assert.deepEqual(
    seen,
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.ok(stage.stats.peakBytes <= 1000);
  assert.equal(stage.stats.peakDepth, 3);
  assert.ok(stage.stats.producerStallMs > 0, 'a slow consumer makes the producer wait');
});

test('holds at most maxItems and still passes an item larger than the whole budget', async () => {
  const stage = prefetch<Item>({ maxBytes: 100, maxItems: 2 });
  const items: Item[] = [];
  for await (const item of stage(counted(5, 500, { count: 0 }), testContext())) items.push(item);
  assert.equal(items.length, 5);
  assert.equal(stage.stats.peakDepth, 1);
  const byCount = prefetch<Item>({ maxBytes: 1e9, maxItems: 2 });
  for await (const _ of byCount(counted(20, 1, { count: 0 }), testContext())) await sleep(1);
  assert.equal(byCount.stats.peakDepth, 2);
});

test('reports consumer stall time when the data side is the bottleneck', async () => {
  const stage = prefetch<Item>({ maxItems: 4 });
  for await (const _ of stage(counted(10, 1, { count: 0 }, 5), testContext()));
  assert.ok(stage.stats.consumerStallMs >= 20, `consumer waited ${stage.stats.consumerStallMs} ms`);
});

test('passes an upstream error to the consumer', async () => {
  async function* failing() {
    yield { id: 0, bytes: 1 };
    throw new Error('shard broke');
  }
  const stage = prefetch<Item>();
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const item of stage(failing(), testContext())) seen.push(item.id);
  }, /shard broke/);
  assert.deepEqual(seen, [0]);
});

test('stops the producer when the consumer stops early', async () => {
  let closed = false;
  async function* endless() {
    try {
      for (let id = 0; ; id++) yield { id, bytes: 1 };
    } finally {
      closed = true;
    }
  }
  const stage = prefetch<Item>({ maxItems: 3 });
  for await (const item of stage(endless(), testContext())) if (item.id === 5) break;
  assert.equal(closed, true);
});

test('ordered map closes its source and settles work when the consumer stops', async () => {
  let closed = false;
  async function* numbers() {
    try {
      for (let i = 0; i < 100; i++) yield i;
    } finally {
      closed = true;
    }
  }
  const seen: number[] = [];
  for await (const value of orderedMap(numbers(), async (n) => (n % 3 === 0 ? undefined : n * 2), { concurrency: 4 })) {
    seen.push(value);
    if (seen.length === 4) break;
  }
  assert.deepEqual(seen, [2, 4, 8, 10]);
  assert.equal(closed, true);
});
