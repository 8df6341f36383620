import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressReporter } from '../src/report/progress.ts';
import { type EpochReading, epochLine, formatDuration, type StepReading, stepLine, validationLine } from '../src/report/progress-line.ts';

const step: StepReading = {
  epoch: 2,
  epochs: 10,
  stepInEpoch: 9,
  stepsPerEpoch: 16,
  step: 41,
  loss: 0.61,
  meanLoss: 0.43125,
  accuracy: 0.875,
  imagesPerSec: 61.23,
  learningRate: 0.0012,
  queueDepth: 4,
  rssBytes: 512 * 2 ** 20,
  numTensors: 957,
  etaSeconds: 80,
  quarantined: 3,
};

const epoch: EpochReading = {
  epoch: 2,
  epochs: 10,
  seconds: 12.4,
  trainLoss: 0.41234,
  trainAccuracy: 0.852,
  valLoss: 0.5012,
  valAccuracy: 0.8,
  k: 2,
  valTopK: 0.95,
  learningRate: 0.0012,
  imagesPerSec: 61.2,
  quarantined: 3,
  best: true,
};

test('the terminal progress line fits the width, keeping the epoch, step n/N, running-mean loss, ETA and quarantined count', () => {
  for (const columns of [40, 60, 80, 120, 200]) {
    const line = stepLine(step, columns);
    assert.ok(line.length <= columns - 1, `${columns}: ${line.length} characters: ${line}`);
    assert.match(line, /^epoch 3\/10 /, `${columns}`);
    assert.match(line, / 9\/16 loss 0\.4313 /, `${columns}: the running mean, not the update's 0.61`);
    assert.match(line, /eta 1m20s/, `${columns}`);
    if (columns >= 80) assert.match(line, /quarantined 3/, `${columns}`);
    if (columns >= 60) assert.match(line, /\[[=> ]{10,30}\]/, `${columns}: the bar shrinks but stays`);
  }
  const wide = stepLine(step, 200);
  assert.match(wide, /\[={16}> {13}\] 9\/16/, 'a bar of 30 cells, 9/16 of it done');
  for (const part of ['acc 87.5%', '61.2 img/s', 'lr 1.20e-3', 'queue 4', 'rss 512.00 MiB', 'tensors 957'])
    assert.ok(wide.includes(part), part);
  assert.ok(!stepLine(step, 80).includes('tensors'), 'the least useful readings go first');
  assert.equal(
    stepLine({ ...step, stepInEpoch: 17 }, 200)
      .match(/ (\d+)\/(\d+) loss/)
      ?.slice(1)
      .join('/'),
    '17/17',
    'n never passes N',
  );
  assert.match(stepLine({ ...step, etaSeconds: undefined }, 80), /eta …/);
});

test('the validation line shows its progress; the epoch line has every metric, Keras verbose=2 style', () => {
  const line = validationLine({ epoch: 0, epochs: 3, samples: 32, total: 64, etaSeconds: 5, quarantined: 0 }, 80);
  assert.match(line, /^epoch 1\/3 validating \[={14}> {14}\] 32\/64 eta 5s quarantined 0$/);
  assert.equal(
    epochLine(epoch),
    'epoch 3/10 - 12s - loss 0.4123 - accuracy 85.2% - val loss 0.5012 - val accuracy 80.0% - val top-2 95.0% - lr 1.20e-3 - 61.2 img/s - quarantined 3 - best',
  );
  assert.deepEqual([formatDuration(42.4), formatDuration(185), formatDuration(3720)], ['42s', '3m05s', '1h02m']);
});

function recorder(isTTY: boolean) {
  const writes: string[] = [];
  const stream = { isTTY, columns: 80, write: (text: string) => writes.push(text) > 0 } as unknown as NodeJS.WriteStream;
  return { writes, stream };
}

test('off a terminal: one plain line per epoch and per message, no step lines; --json gives JSON lines; a terminal rewrites its line', () => {
  const plain = recorder(false);
  const reporter = new ProgressReporter(plain.stream);
  assert.equal(reporter.mode, 'epochs');
  reporter.message('phase 1/1: from scratch');
  for (let n = 1; n <= 16; n++) reporter.step({ ...step, stepInEpoch: n });
  reporter.validation({ epoch: 2, epochs: 10, samples: 64, total: 64, quarantined: 0 });
  reporter.epoch(epoch);
  assert.deepEqual(plain.writes, ['phase 1/1: from scratch\n', `${epochLine(epoch)}\n`]);

  const json = recorder(false);
  const machine = new ProgressReporter(json.stream, { mode: 'json' });
  machine.step(step);
  machine.epoch(epoch);
  const [stepRecord, epochRecord] = json.writes.map((line) => JSON.parse(line));
  assert.equal(stepRecord.event, 'step');
  assert.equal(stepRecord.meanLoss, step.meanLoss);
  assert.equal(epochRecord.event, 'epoch');
  assert.equal(epochRecord.trainAccuracy, epoch.trainAccuracy);

  const terminal = recorder(true);
  const person = new ProgressReporter(terminal.stream);
  assert.equal(person.mode, 'terminal');
  person.step({ ...step, stepInEpoch: 1 });
  person.step({ ...step, stepInEpoch: 2 }); // within 200 ms: not drawn
  person.step({ ...step, stepInEpoch: 16 }); // the epoch's last: drawn whatever the time
  person.epoch(epoch);
  assert.equal(terminal.writes.length, 3);
  assert.ok(terminal.writes.slice(0, 2).every((text) => text.startsWith('\r\x1b[K') && !text.endsWith('\n')));
  assert.match(terminal.writes[1], / 16\/16 /);
  assert.equal(terminal.writes[2], `\r\x1b[K${epochLine(epoch)}\n`);
});
