// The sweep controller with a stand-in executor (no training): rungs, promotion, failures, and a resume that replays the
// same decisions without running a finished trial again, whichever executor ran the trials.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { defaultSweepConfig, validateSweepConfig } from '../src/config/sweep-config.ts';
import { runSweep, type SweepSpec } from '../src/sweep/controller.ts';
import type { Rung, TrialExecutor, TrialOutcome } from '../src/sweep/executor.ts';
import { validateSearchSpace } from '../src/sweep/space.ts';
import { writeTrialResult } from '../src/sweep/trial.ts';

const folders: string[] = [];
after(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** Stands in for local processes or Slurm arrays: "trains" by writing the result a run would, metric = f(lr, epochs). */
class ScriptedExecutor implements TrialExecutor {
  readonly runs: Array<{ id: string; epochs: number }> = [];
  constructor(
    readonly name: 'local' | 'slurm',
    private readonly sweepDir: string,
    private readonly options: { failIds?: string[]; stopAfter?: number; abort?: AbortController } = {},
  ) {}

  async runRung(rung: Rung, signal: AbortSignal, onOutcome: (id: string, outcome: TrialOutcome) => void): Promise<void> {
    for (const trial of rung.trials) {
      if (signal.aborted) {
        onOutcome(trial.id, { interrupted: 'SIGTERM' });
        continue;
      }
      this.runs.push({ id: trial.id, epochs: rung.epochs });
      const lr = trial.params.lr as number;
      const fail = this.options.failIds?.includes(trial.id);
      const result = {
        id: trial.id,
        targetEpochs: rung.epochs,
        ok: !fail,
        metric: fail ? null : 1 - Math.abs(Math.log10(lr) + 2.5) / 10 + rung.epochs / 100,
        epochs: fail ? 0 : rung.epochs,
        ...(fail ? { reason: 'exit code 1 (Slurm FAILED on node7)' } : {}),
        seconds: 1,
        ...(this.name === 'slurm' ? { jobId: `${40 + rung.index}_${Number(trial.id.slice(6))}`, node: 'node7' } : {}),
        finishedAt: new Date().toISOString(),
      };
      writeTrialResult(this.sweepDir, result);
      onOutcome(trial.id, result);
      if (this.options.stopAfter !== undefined && this.runs.length === this.options.stopAfter) this.options.abort?.abort('SIGTERM');
    }
  }
}

const space = validateSearchSpace({
  method: 'grid',
  metric: 'valAccuracy',
  parameters: { lr: { grid: [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1] } },
});

function spec(sweepDir: string, executor: TrialExecutor, signal?: AbortSignal): SweepSpec {
  return {
    config: validateSweepConfig({ ...defaultSweepConfig, trials: 9, eta: 3, out: sweepDir }),
    space,
    launch: { command: ['node'], pipelineFile: 'sweep.ts', trainArgs: [], cwd: sweepDir, metric: 'valAccuracy' },
    seed: 0,
    maxEpochs: 9,
    sharedConfig: { model: 'efficientnet-b0' },
    log: () => {},
    signal,
    executor,
  };
}

function newFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'streamfit-sweep-'));
  folders.push(folder);
  return folder;
}

test('rungs of 1, 3 and 9 epochs keep the best third; a failed trial is recorded with its reason and the sweep goes on', async () => {
  const sweepDir = newFolder();
  const executor = new ScriptedExecutor('local', sweepDir, { failIds: ['trial-004'] });
  const summary = await runSweep(spec(sweepDir, executor));
  assert.equal(summary.status, 'completed');
  const byRung = (epochs: number) => executor.runs.filter((run) => run.epochs === epochs).map((run) => run.id);
  assert.equal(byRung(1).length, 9);
  // lr 3e-3 scores best, then 1e-3 and 1e-2; trial-004 (lr 1e-2) fails, so 3 of the 8 left go on: ceil(8 / 3).
  assert.deepEqual(byRung(3), ['trial-002', 'trial-003', 'trial-005']);
  assert.deepEqual(byRung(9), ['trial-003']);
  const failed = summary.trials.find((trial) => trial.id === 'trial-004')!;
  assert.equal(failed.status, 'failed');
  assert.match(failed.reason!, /Slurm FAILED/);
  assert.equal(summary.best?.id, 'trial-003');
  assert.equal(summary.trials.filter((trial) => trial.status === 'done').length, 1);
  assert.equal(summary.trials.filter((trial) => trial.status === 'stopped').length, 7);
});

test('the same sweep run by either executor samples the same trials and takes the same decisions; slurm adds job and node', async () => {
  const local = newFolder();
  const slurm = newFolder();
  const onLocal = await runSweep(spec(local, new ScriptedExecutor('local', local)));
  const onSlurm = await runSweep(spec(slurm, new ScriptedExecutor('slurm', slurm)));
  const strip = ({ jobId, node, ...rest }: Record<string, unknown>) => {
    void jobId;
    void node;
    return rest;
  };
  assert.deepEqual(onSlurm.trials.map(strip), onLocal.trials);
  assert.deepEqual(onSlurm.best, onLocal.best);
  assert.equal(onSlurm.trials[0].jobId, '40_0');
  assert.equal(onSlurm.trials.find((trial) => trial.status === 'done')!.jobId, '42_3');
  assert.equal(onSlurm.trials[0].node, 'node7');
  assert.match(readFileSync(join(slurm, 'results.csv'), 'utf8'), /^id,status,valAccuracy,epochs,lr,reason,jobId,node\n/);
});

test('a sweep stopped inside a rung resumes: finished trials are not run again and the halving decisions are the same', async () => {
  const whole = newFolder();
  const reference = new ScriptedExecutor('slurm', whole);
  const complete = await runSweep(spec(whole, reference));

  const sweepDir = newFolder();
  const stop = new AbortController();
  const first = new ScriptedExecutor('slurm', sweepDir, { stopAfter: 10, abort: stop }); // all of rung 1, one trial of rung 2
  const interrupted = await runSweep(spec(sweepDir, first, stop.signal));
  assert.equal(interrupted.status, 'interrupted');
  assert.equal(first.runs.length, 10);
  const second = new ScriptedExecutor('slurm', sweepDir);
  const resumed = await runSweep(spec(sweepDir, second));
  assert.equal(resumed.status, 'completed');
  assert.deepEqual(
    second.runs,
    reference.runs.filter((run) => !first.runs.some((done) => done.id === run.id && done.epochs === run.epochs)),
    'only what had not finished runs again',
  );
  assert.deepEqual(resumed.trials, complete.trials);
  assert.ok(existsSync(join(sweepDir, 'best.json')));
});

test('a result a trial wrote after the controller last saved is taken, not trained again', async () => {
  const sweepDir = newFolder();
  await runSweep(spec(sweepDir, new ScriptedExecutor('local', sweepDir)));
  const again = new ScriptedExecutor('local', sweepDir);
  const summary = await runSweep(spec(sweepDir, again));
  assert.equal(again.runs.length, 0, 'a finished sweep runs nothing');
  assert.equal(summary.best?.id, 'trial-003');
});

test('the executor slurm refuses a sweep folder under /tmp; bad Slurm settings name their field', () => {
  assert.throws(
    () => validateSweepConfig({ ...defaultSweepConfig, executor: 'slurm', out: '/tmp/my-sweep' }),
    /config field 'out': \/tmp\/my-sweep is under \/tmp, which every node has its own of/,
  );
  assert.doesNotThrow(() => validateSweepConfig({ ...defaultSweepConfig, executor: 'local', out: '/tmp/my-sweep' }));
  assert.throws(
    () =>
      validateSweepConfig({ ...defaultSweepConfig, executor: 'slurm', out: 'runs/x', slurm: { ...defaultSweepConfig.slurm, time: '2h' } }),
    /sweep\.slurm\.time.*expected a Slurm time/,
  );
  assert.throws(
    () =>
      validateSweepConfig({
        ...defaultSweepConfig,
        executor: 'slurm',
        out: 'runs/x',
        slurm: { ...defaultSweepConfig.slurm, maxRunning: 0 },
      }),
    /sweep\.slurm\.maxRunning/,
  );
  assert.throws(
    () => validateSweepConfig({ ...defaultSweepConfig, detach: true, out: 'runs/x' }),
    /sweep\.detach.*only the executor slurm/,
  );
  assert.throws(() => validateSweepConfig({ ...defaultSweepConfig, executor: 'pbs', out: 'runs/x' }), /sweep\.executor/);
});
