// Starts a training worker thread: registers tsx's loader in this thread (loaders are per thread), then loads the
// TypeScript module the main thread named (training-worker.ts).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
