import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineChart, niceTicks } from '../src/report/charts.ts';
import { type EpochRecord, renderReport } from '../src/report/html-report.ts';
import { StepCurve } from '../src/report/step-curve.ts';

test('axis ticks are round numbers covering the range', () => {
  assert.deepEqual(niceTicks(0, 2.23, 5), [0, 0.5, 1, 1.5, 2, 2.5]);
  assert.deepEqual(niceTicks(0, 0.002, 5), [0, 0.0005, 0.001, 0.0015, 0.002]);
  assert.deepEqual(niceTicks(1, 16, 6, true), [0, 5, 10, 15, 20]);
  assert.deepEqual(niceTicks(1, 3, 6, true), [1, 2, 3]);
  const flat = niceTicks(0.5, 0.5, 5);
  assert.ok(flat.length >= 2 && flat[0] <= 0.5 && flat.at(-1)! > 0.5, `a flat series still gets an axis: ${flat}`);
  const chart = lineChart({
    title: 'Loss',
    xLabel: 'step',
    series: [
      {
        name: 'train',
        points: [
          [1, 2.2],
          [16, 0.9],
        ],
        colour: '#000',
      },
    ],
  });
  for (const tick of ['>0<', '>0.5<', '>2.5<', '>5<', '>15<', '>step<']) assert.ok(chart.includes(tick), tick);
});

test('the per-step curve stays bounded however long the run, keeps the mean loss, and survives a checkpoint', () => {
  const curve = new StepCurve(100);
  for (let step = 1; step <= 1000; step++) curve.add(step, step % 2 === 0 ? 1 : 3, 1 / step);
  assert.ok(curve.points.length <= 100 && curve.points.length > 50, `${curve.points.length} points`);
  assert.ok(
    curve.points.every((point) => point.loss === 2),
    'each point is the mean of the updates it covers',
  );
  assert.equal(curve.points.at(-1)!.step, 1000);
  assert.equal(curve.points.at(-1)!.learningRate, 1 / 1000);
  const resumed = new StepCurve(100);
  resumed.loadState(JSON.parse(JSON.stringify(curve.state())));
  for (let step = 1001; step <= 1100; step++) {
    curve.add(step, 5, 0);
    resumed.add(step, 5, 0);
  }
  assert.deepEqual(resumed.points, curve.points);
});

test('report.html names the run, its best and final metrics, timings, counts, the confusion matrix epoch and the whole config', () => {
  const history: EpochRecord[] = [0, 1, 2].map((epoch) => ({
    epoch,
    trainLoss: 1 - epoch * 0.2,
    trainAccuracy: 0.5 + epoch * 0.1,
    valLoss: [0.9, 0.5, 0.7][epoch],
    valAccuracy: [0.55, 0.8125, 0.75][epoch],
    valTopK: 1,
    learningRate: 1e-3,
    seconds: 30 + epoch,
    imagesPerSec: 12.5,
    trainSamples: 256,
    validationSamples: 64,
  }));
  const html = renderReport({
    name: 'my-run',
    status: 'running: epoch 3 of 10 done',
    writtenAt: new Date('2026-01-02T03:04:05Z'),
    notes: ['2 samples were quarantined: see runs/my-run/quarantine.jsonl.'],
    history,
    steps: [
      { step: 10, loss: 1.2, learningRate: 1e-3 },
      { step: 20, loss: 0.8, learningRate: 5e-4 },
    ],
    bestEpoch: 1,
    k: 2,
    classes: ['cat', 'dog <b>'],
    confusion: {
      epoch: 1,
      matrix: [
        [30, 2],
        [4, 28],
      ],
      perClassAccuracy: [30 / 32, 28 / 32],
    },
    facts: [
      ['samples', '256 training, 64 validation'],
      ['quarantined', '2'],
      ['wall time', '1m33s'],
    ],
    config: { name: 'my-run', lr: 0.002, earlyStopping: { metric: 'valAccuracy', patience: 4 }, preciseBn: { batches: 32 } },
  });
  assert.match(html, /<h1>streamfit run my-run<\/h1>/);
  assert.match(html, /running: epoch 3 of 10 done · report written 2026-01-02 03:04:05 UTC/);
  assert.match(
    html,
    /<tr><th>best<\/th><td>2<\/td><td>0\.8000<\/td><td>60\.0%<\/td><td>0\.5000<\/td><td>81\.3%<\/td><td>100\.0%<\/td><\/tr>/,
  );
  assert.match(html, /<tr><th>final<\/th><td>3<\/td><td>0\.6000<\/td><td>70\.0%<\/td>/);
  assert.match(html, /Confusion matrix of epoch 2 \(the best\)/);
  assert.match(html, /Training loss per optimizer update/);
  assert.match(html, /Learning rate per optimizer update/);
  assert.match(html, /train accuracy/);
  assert.match(html, /<th>wall time<\/th><td>1m33s<\/td>/);
  assert.match(html, /<td>2 ★<\/td><td>31s<\/td><td>12\.5<\/td>/, 'time and images/s per epoch, the best one marked');
  assert.match(html, /<th>earlyStopping<\/th><td><code>\{&#34;metric&#34;:&#34;valAccuracy&#34;,&#34;patience&#34;:4\}<\/code>/);
  assert.match(html, /dog &#60;b&#62;/, 'class names are escaped');
  assert.doesNotMatch(html, /<script|https?:\/\//, 'self-contained: no script, no network');
});
