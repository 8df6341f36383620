// One training worker's thread, as the pool sees it: starting it, its requests in flight and their replies, and the
// errors that say whether its share of a window can be computed again (WorkerLost) or the run must stop (WorkerFailed).

import { Worker } from 'node:worker_threads';
import { StreamfitError } from '../../errors.ts';
import type { FromWorker, ToWorker, WorkerStart } from './worker-messages.ts';
import { workerBootstrap } from './worker-slots.ts';

/** A worker died (its thread exited, or its wasm heap ran out): its share of the window is lost and is computed again. */
export class WorkerLost extends StreamfitError {
  constructor(
    readonly worker: number,
    readonly reason: string,
  ) {
    super(`training worker ${worker} was lost (${reason})`);
  }
}

/** A worker could not start, or its step failed for a reason other than memory (a bug, bad data): the run stops. */
export class WorkerFailed extends StreamfitError {
  constructor(
    readonly worker: number,
    readonly reason: string,
  ) {
    super(`training worker ${worker}: ${reason}`);
  }
}

export type Reply<T extends FromWorker['type']> = Extract<FromWorker, { type: T }>;
type Request = ToWorker extends infer M ? (M extends { id: number } ? Omit<M, 'id'> : never) : never;

/** One worker thread and its requests in flight. */
export class WorkerThread {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  alive = true;
  /** Micro-batches handed to it since the last collect. */
  batches = 0;
  /** Its collect, asked for right behind its last micro-batch of the window (so it runs while the others compute). */
  collecting?: Promise<Reply<'collected'>>;
  private started = false;
  private nextId = 0;
  private readonly requests = new Map<number, { resolve: (reply: FromWorker) => void; reject: (error: Error) => void }>();

  constructor(
    readonly index: number,
    start: WorkerStart,
  ) {
    // Its own loader (training-worker.mjs registers tsx): the parent's --import flags are not repeated in the thread.
    this.worker = new Worker(workerBootstrap, { workerData: start, execArgv: [] });
    let markReady = () => {};
    let failStart = (_error: Error) => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    this.ready.catch(() => {}); // awaited by every request; a thread that never gets one must not warn
    const lost = (reason: string, startFailed = false) => {
      if (!this.alive) return;
      this.alive = false;
      // A start that failed (no module, no backend) would fail the same way again; a thread killed meanwhile would not.
      const error = startFailed && !this.started ? new WorkerFailed(index, `could not start: ${reason}`) : new WorkerLost(index, reason);
      failStart(error);
      for (const request of this.requests.values()) request.reject(error);
      this.requests.clear();
    };
    this.worker.on('message', (message: FromWorker) => {
      if (message.type === 'ready') {
        this.started = true;
        markReady();
        return;
      }
      if (message.type === 'start-failed') return lost(message.message, true);
      const request = this.requests.get(message.id);
      this.requests.delete(message.id);
      if (message.type !== 'failed') request?.resolve(message);
      else if (message.outOfMemory) {
        // A wasm heap that ran out may be left broken: the worker is replaced, not reused. It counts as lost at once (its
        // 'exit' comes a turn later), so a retry in the same turn replaces it instead of sending it a reset.
        request?.reject(new WorkerLost(index, message.message));
        lost(message.message);
        void this.terminate();
      } else request?.reject(new WorkerFailed(index, message.message));
    });
    this.worker.on('error', (error) => lost(error.message.split('\n')[0], true));
    this.worker.on('exit', (code) => lost(`its thread exited with code ${code}`));
  }

  async request<T extends FromWorker['type']>(message: Request): Promise<Reply<T>> {
    await this.ready;
    if (!this.alive) throw new WorkerLost(this.index, 'its thread had ended');
    const id = this.nextId++;
    const reply = new Promise<FromWorker>((resolve, reject) => this.requests.set(id, { resolve, reject }));
    this.worker.postMessage({ ...message, id } as ToWorker);
    return (await reply) as Reply<T>;
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}
