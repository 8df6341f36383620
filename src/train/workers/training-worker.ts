// A data-parallel training worker: its own tfjs backend instance and copy of the model; sums the gradients of the
// micro-batches it is handed with the trainer's own code path (lean backward, recomputation, out-of-memory chunks) and
// writes them into its shared slot when the main thread collects the window.

import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../backend/ladder.ts';
import { isOutOfMemory } from '../../memory/out-of-memory.ts';
import '../../models/create-model.ts'; // registers streamfit's layers (BatchNormalization, Dropout, swish…) for the topology
import { type BackoffEvent, Trainer } from '../trainer.ts';
import { fromSharedBatch } from './shared-batch.ts';
import { SharedWeights } from './shared-weights.ts';
import { sumSlotShare } from './slot-sum.ts';
import { readTensor } from './tensor-memory.ts';
import type { FromWorker, ToWorker, WorkerStart } from './worker-messages.ts';

const start = workerData as WorkerStart;
const port = parentPort!;
const send = (message: FromWorker) => port.postMessage(message);

async function startWorker() {
  await selectBackend(start.slot.backend);
  const model = await tf.models.modelFromJSON({ modelTopology: start.topology } as unknown as tf.io.ModelJSON);
  const shapes = model.trainableWeights.map((weight) => weight.shape.join('×'));
  const expected = start.trainableShapes.map((shape) => shape.join('×'));
  if (shapes.join(',') !== expected.join(','))
    throw new Error(
      `the worker's model has trainable weights ${shapes.length} [${shapes.slice(0, 4)}…], the main thread's ${expected.length}`,
    );
  const weights = new SharedWeights(start.weights.buffer, start.weights.layout);
  const backoffs: BackoffEvent[] = [];
  // Never applies an update (accumulate is unbounded): the main thread holds the optimizer.
  const trainer = new Trainer({
    ...start.trainer,
    model,
    accumulate: Number.POSITIVE_INFINITY,
    onBackoff: (event) => backoffs.push(event),
  });
  return { model, weights, trainer, backoffs };
}

let worker: Awaited<ReturnType<typeof startWorker>>;
try {
  worker = await startWorker();
} catch (error) {
  send({ type: 'start-failed', message: (error as Error).message });
  process.exit(1);
}
const { model, weights, trainer, backoffs } = worker;
const slot = new Float32Array(start.slotBuffers[start.index]);
const modelWeights = model.weights; // gathered once: the getter walks every layer
let weightsVersion = -1; // the version the model holds; the first task loads the weights of its window
let samples = 0;
let failNext: { request: string; message: string } | undefined; // fault tests

/** The whole model the first time (and after a reset), then only what a window changes: frozen weights stay as they are. */
function loadWeights(version: number): void {
  if (version === weightsVersion) return;
  weights.readInto(modelWeights, weightsVersion === -1 ? undefined : start.changing);
  weightsVersion = version;
}

const sum = new Float32Array(start.sumBuffer);
const slots = start.slotBuffers.map((buffer) => new Float32Array(buffer));

async function handle(message: ToWorker): Promise<void> {
  try {
    if (failNext?.request === message.type) {
      const failure = failNext.message;
      failNext = undefined;
      throw new Error(failure);
    }
    if (message.type === 'train') {
      loadWeights(message.weightsVersion);
      trainer.chunks = message.chunks;
      trainer.optimizerStep = message.optimizerStep;
      trainer.batchesInWindow = message.indexInWindow; // the masks' seed: where the micro-batch sits in its window
      backoffs.length = 0;
      await trainer.step(fromSharedBatch(message.batch));
      samples += message.batch.shape[0];
      send({ type: 'trained', id: message.id, chunks: trainer.chunks, backoffs: [...backoffs] });
    } else if (message.type === 'collect') {
      const state = await trainer.copyWindow(slot);
      let offset = start.trainableShapes.reduce((sum, shape) => sum + shape.reduce((product, size) => product * size, 1), 0);
      for (const index of start.statistics) {
        readTensor(modelWeights[index].read(), slot, offset);
        offset += modelWeights[index].read().size;
      }
      const collected = samples;
      trainer.resetWindow();
      samples = 0;
      send({ type: 'collected', id: message.id, lossSum: state.lossSum, correct: state.correct, samples: collected });
    } else if (message.type === 'reduce') {
      sumSlotShare(sum, slots, message.workers, message.start, message.end);
      send({ type: 'reduced', id: message.id });
    } else if (message.type === 'fail-next') {
      failNext = { request: message.request, message: message.message };
      send({ type: 'armed', id: message.id });
    } else {
      trainer.resetWindow();
      samples = 0;
      weightsVersion = -1;
      loadWeights(message.weightsVersion);
      send({ type: 'reset-done', id: message.id });
    }
  } catch (error) {
    send({ type: 'failed', id: message.id, message: (error as Error).message.split('\n')[0], outOfMemory: isOutOfMemory(error) });
  }
}

// One message at a time, in the order sent: a collect never overtakes the micro-batches before it.
let queue = Promise.resolve();
port.on('message', (message: ToWorker) => {
  queue = queue.then(() => handle(message));
});
send({ type: 'ready' });
