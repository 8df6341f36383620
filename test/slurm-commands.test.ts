// Reading Slurm: squeue --json in 22.05's and 23.02+'s shapes, array expressions, why a task ended, sbatch argument words.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shellQuote, splitShellWords } from '../src/sweep/shell-words.ts';
import {
  compactArrayTasks,
  endReason,
  expandArrayTasks,
  parseSacct,
  parseSqueueJson,
  type SlurmTask,
} from '../src/sweep/slurm-commands.ts';

// Trimmed from `squeue --json` of Slurm 22.05.8 (Debian 12) during a sweep: two finished tasks and the pending rest.
const squeue2205 = JSON.stringify({
  meta: { plugin: { type: 'openapi/v0.0.38' } },
  errors: [],
  jobs: [
    {
      job_id: 2,
      array_job_id: 1,
      array_task_id: 0,
      array_task_string: '',
      name: 'streamfit-sweep:a',
      job_state: 'COMPLETED',
      state_reason: 'None',
      exit_code: 0,
      nodes: 'vm',
      restart_cnt: 0,
      time_limit: null,
    },
    {
      job_id: 3,
      array_job_id: 1,
      array_task_id: 2,
      array_task_string: '',
      name: 'streamfit-sweep:a',
      job_state: 'FAILED',
      state_reason: 'NonZeroExitCode',
      exit_code: 256,
      nodes: 'vm',
      restart_cnt: 1,
      time_limit: 30,
    },
    {
      job_id: 1,
      array_job_id: 1,
      array_task_id: null,
      array_task_string: '3,5-7%2',
      name: 'streamfit-sweep:a',
      job_state: 'PENDING',
      state_reason: 'JobArrayTaskLimit',
      exit_code: 0,
      nodes: '',
      restart_cnt: 0,
      time_limit: 30,
    },
    {
      job_id: 9,
      array_job_id: 0,
      array_task_id: null,
      array_task_string: '',
      name: 'other',
      job_state: 'RUNNING',
      state_reason: 'None',
      exit_code: 0,
      nodes: 'n2',
      restart_cnt: 0,
    },
  ],
});

// The shape of Slurm 23.02+ (data_parser v0.0.39 and later): numbers as {set, infinite, number}, states as lists.
const squeue2302 = JSON.stringify({
  jobs: [
    {
      job_id: 12,
      array_job_id: { set: true, infinite: false, number: 11 },
      array_task_id: { set: true, infinite: false, number: 4 },
      array_task_string: '',
      name: 'streamfit-sweep:b',
      job_state: ['OUT_OF_MEMORY'],
      state_reason: 'OutOfMemory',
      exit_code: {
        status: ['OUT_OF_MEMORY'],
        return_code: { set: true, infinite: false, number: 0 },
        signal: { id: { set: true, number: 9 }, name: 'KILL' },
      },
      nodes: 'gpu3',
      restart_cnt: 2,
      time_limit: { set: true, infinite: false, number: 120 },
    },
  ],
});

test('squeue --json of Slurm 22.05: tasks, a pending range, exit status as a wait status', () => {
  const tasks = parseSqueueJson(squeue2205);
  assert.deepEqual(
    tasks.map((task) => [task.arrayJobId, task.taskIds, task.state, task.exitCode, task.exitSignal, task.restarts]),
    [
      ['1', [0], 'COMPLETED', 0, 0, 0],
      ['1', [2], 'FAILED', 1, 0, 1],
      ['1', [3, 5, 6, 7], 'PENDING', 0, 0, 0],
      ['9', [], 'RUNNING', 0, 0, 0],
    ],
  );
  assert.equal(tasks[1].timeLimitMinutes, 30);
});

test('squeue --json of Slurm 23.02+: {set, number} values and state lists', () => {
  const [task] = parseSqueueJson(squeue2302);
  assert.deepEqual(
    [task.arrayJobId, task.taskIds, task.state, task.exitCode, task.exitSignal, task.node, task.restarts, task.timeLimitMinutes],
    ['11', [4], 'OUT_OF_MEMORY', 0, 9, 'gpu3', 2, 120],
  );
});

test('sacct lines (accounting on) become the same records; the job steps are left out', () => {
  const tasks = parseSacct(
    '7_0|streamfit-sweep:a|TIMEOUT|0:15|n1|00:30:00\n7_0.batch|batch|CANCELLED|0:15|n1|\n7_1|streamfit-sweep:a|CANCELLED by 0|0:0|n2|00:30:00\n',
  );
  assert.deepEqual(
    tasks.map((task) => [task.arrayJobId, task.taskIds, task.state, task.exitCode, task.exitSignal, task.node]),
    [
      ['7', [0], 'TIMEOUT', 0, 15, 'n1'],
      ['7', [1], 'CANCELLED', 0, 0, 'n2'],
    ],
  );
});

test('array expressions both ways', () => {
  assert.deepEqual(expandArrayTasks('0,2-3,5%2'), [0, 2, 3, 5]);
  assert.deepEqual(expandArrayTasks('1-7:3'), [1, 4, 7]);
  assert.deepEqual(expandArrayTasks(''), []);
  assert.equal(compactArrayTasks([5, 0, 1, 2, 7, 8]), '0-2,5,7-8');
  assert.equal(compactArrayTasks([3]), '3');
});

test("a task that ended without a result is failed with Slurm's reason: exit code, signal, out of memory, time limit, node failure", () => {
  const task = (state: string, exitCode: number, exitSignal = 0, extra: Partial<SlurmTask> = {}): SlurmTask => ({
    arrayJobId: '5',
    taskIds: [1],
    name: 'streamfit-sweep:a',
    state,
    reason: 'None',
    exitCode,
    exitSignal,
    node: 'n4',
    restarts: 0,
    timeLimitMinutes: null,
    ...extra,
  });
  assert.match(endReason(task('FAILED', 3, 0, { reason: 'NonZeroExitCode' })), /^exit code 3 \(Slurm FAILED, NonZeroExitCode on n4\)/);
  assert.match(endReason(task('FAILED', 0, 11)), /^killed by SIGSEGV \(Slurm FAILED on n4\)/);
  assert.match(endReason(task('OUT_OF_MEMORY', 0, 9)), /more memory than it asked for \(Slurm OUT_OF_MEMORY on n4\).*--mem/);
  assert.match(
    endReason(task('TIMEOUT', 0, 15, { timeLimitMinutes: 90 })),
    /time limit of 90 min \(Slurm TIMEOUT on n4\); raise --slurm-time/,
  );
  assert.match(endReason(task('NODE_FAIL', 0)), /node failed and it was not requeued/);
  assert.match(endReason(task('COMPLETED', 0)), /wrote no result/);
});

test('--slurm-args splits as sh would; words for the batch script are quoted', () => {
  assert.deepEqual(splitShellWords(`--mem=16G  --qos=long --comment='two words' --constraint="a100|h100" x\\ y`, '--slurm-args'), [
    '--mem=16G',
    '--qos=long',
    '--comment=two words',
    '--constraint=a100|h100',
    'x y',
  ]);
  assert.deepEqual(splitShellWords('', '--slurm-args'), []);
  assert.throws(() => splitShellWords("--comment='open", '--slurm-args'), /flag --slurm-args: unclosed '/);
  assert.equal(shellQuote('/work/runs/a-b_1.ts'), '/work/runs/a-b_1.ts');
  assert.equal(shellQuote("it's here"), `'it'\\''s here'`);
  assert.equal(shellQuote('--initial-old-space-size=64'), '--initial-old-space-size=64');
});
