import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parseBytes } from '../src/config/bytes.ts';
import { type Alternative, rankAlternatives, suggestion } from '../src/memory/alternatives.ts';
import { registeredModels } from '../src/models/registry.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'bin', 'streamfit.js');

/** The plan's JSON, and the exit code: 1 when the model does not fit (the JSON is printed all the same). */
async function plan(args: string[]): Promise<Record<string, unknown>> {
  let stdout: string;
  let code = 0;
  try {
    ({ stdout } = await run(process.execPath, [cli, 'plan', ...args, '--json'], { maxBuffer: 2 ** 24 }));
  } catch (error) {
    ({ stdout, code } = error as { stdout: string; code: number });
  }
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  assert.equal(code, result.fits ? 0 : 1, 'plan exits 1 when the model does not fit');
  return result;
}

const alternative = (model: string, fits: boolean, microBatch: number, recompute: boolean, predictedPeakBytes: number): Alternative => ({
  model,
  resolution: 224,
  fits,
  microBatch,
  accumulate: 32 / microBatch,
  recompute,
  predictedPeakBytes,
});

test('alternatives rank by how much of the batch one step takes, then without recomputation, then by the smaller peak', () => {
  const ranked = rankAlternatives([
    alternative('a', false, 1, true, 10),
    alternative('b', true, 4, true, 50),
    alternative('c', true, 8, true, 90),
    alternative('d', true, 4, false, 70),
    alternative('e', true, 4, false, 60),
    alternative('f', true, 1, true, 5),
  ]);
  assert.deepEqual(
    ranked.map((entry) => entry.model),
    ['c', 'e', 'd', 'b', 'f', 'a'],
  );
  assert.equal(suggestion(ranked, 'c'), 'e at 224 px fits (micro-batch 4 × accumulate 8)');
  assert.equal(suggestion(ranked, 'e'), 'c at 224 px fits (micro-batch 8 × accumulate 4, with recomputation)');
  assert.equal(suggestion([alternative('a', false, 1, true, 10)], 'x'), 'no registered model fits at its native resolution either');
});

test('plan --alternatives plans every registered model at its native resolution; one that does not fit suggests the best', async () => {
  const args = ['--model', 'vgg19', '--batch', '32', '--memory', '600MiB', '--classes', '2'];
  const result = await plan([...args, '--alternatives']);
  assert.equal(result.fits, false);
  const alternatives = result.alternatives as Alternative[];
  assert.deepEqual(alternatives.map((entry) => entry.model).sort(), registeredModels.map((definition) => definition.name).sort());
  for (const entry of alternatives) {
    assert.deepEqual(Object.keys(entry).sort(), [
      'accumulate',
      'fits',
      'microBatch',
      'model',
      'predictedPeakBytes',
      'recompute',
      'resolution',
    ]);
    assert.equal(entry.resolution, registeredModels.find((definition) => definition.name === entry.model)!.resolution);
    assert.equal(entry.fits, entry.predictedPeakBytes <= parseBytes('600MiB')!, entry.model);
    if (entry.fits) assert.equal(entry.microBatch * entry.accumulate, 32, entry.model);
  }
  assert.deepEqual(alternatives, rankAlternatives(alternatives), 'sorted best first');
  assert.ok(alternatives.some((entry) => entry.fits) && alternatives.some((entry) => !entry.fits));
  const vgg19 = alternatives.find((entry) => entry.model === 'vgg19')!;
  assert.deepEqual([vgg19.fits, vgg19.predictedPeakBytes], [false, result.predictedPeakBytes], 'the same planner, the same numbers');
  const best = alternatives.find((entry) => entry.fits)!;
  assert.match(result.suggestion as string, new RegExp(`^${best.model} at ${best.resolution} px fits \\(micro-batch ${best.microBatch} `));

  // train's planner refuses in one line, with the same suggestion.
  const { applyMemoryPlan } = await import('../src/train/memory-plan.ts');
  const { defaultTrainConfig } = await import('../src/config/train-config.ts');
  const config = {
    ...defaultTrainConfig,
    name: 'x',
    data: 'x',
    out: 'runs/x',
    model: 'vgg19',
    batchSize: 32,
    microBatch: 32,
    planner: true,
    backend: 'cpu' as const,
  };
  await assert.rejects(
    applyMemoryPlan({ ...config, memory: '600MiB' }),
    (error: Error) =>
      error.message.includes('vgg19 at 224 px does not fit in 600MiB') &&
      error.message.endsWith(`; ${result.suggestion}`) &&
      !error.message.includes('\n'),
  );
});

// The layer kinds EfficientNet lacks (fused ReLU convolutions, ReLU6, concatenation, pooling) have their own weights in
// the planner. SGD: Adam's update holds temporaries of every weight at once (see the report), which this does not measure.
for (const [model, size, batch] of [
  ['vgg16', 48, 2],
  ['mobilenetv2', 96, 8],
  ['inceptionv3', 75, 4],
] as const) {
  test(`plan --measure: the prediction is within 15% of a real step for ${model} at ${size} px on wasm`, async () => {
    const result = await plan([
      '--model',
      model,
      '--image-size',
      String(size),
      '--batch',
      String(batch),
      '--memory',
      '2GiB',
      '--classes',
      '10',
      '--optimizer',
      'sgd',
      '--measure',
      '--backend',
      'wasm',
    ]);
    assert.equal(result.fits, true);
    const ratio = (result.measuredPeakBytes as number) / (result.predictedPeakBytes as number);
    assert.ok(ratio > 0.85 && ratio < 1.15, `measured ${result.measuredPeakBytes} vs predicted ${result.predictedPeakBytes}`);
  });
}
