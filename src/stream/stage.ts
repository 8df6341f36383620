// The stage contract and a typed, fluent way to compose stages in data order.

import type { Quarantine } from './quarantine.ts';

export interface StageContext {
  /** Epoch number: stages that shuffle or augment seed themselves with it. */
  readonly epoch: number;
  /** Cancels the whole flow; stages pass it on and clean up in `finally`. */
  readonly signal?: AbortSignal;
  /** Where bad samples are recorded instead of silently dropped. */
  readonly quarantine: Quarantine;
  /** Live readings stages publish for progress reports (the prefetch queue's depth and stalls). */
  readonly gauges?: Map<string, () => unknown>;
}

/** A stage maps one async stream to another; the shape `stream.compose` and `stream.pipeline` accept. */
export type Stage<In, Out> = (source: AsyncIterable<In>, context: StageContext) => AsyncIterable<Out>;

/** Where samples come from: a function of the context, so each epoch is a fresh pass. */
export type SourceStage<Out> = (context: StageContext) => AsyncIterable<Out>;

/** A chain of stages; `pipe` type-checks that each stage accepts the previous one's output. */
export class Flow<T> implements AsyncIterable<T> {
  constructor(
    private readonly stream: AsyncIterable<T>,
    readonly context: StageContext,
  ) {}

  pipe<U>(stage: Stage<T, U>): Flow<U> {
    return new Flow(stage(this.stream, this.context), this.context);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.stream[Symbol.asyncIterator]();
  }
}

export function flow<T>(source: SourceStage<T>, context: StageContext): Flow<T> {
  return new Flow(source(context), context);
}

/** A stage that transforms each item on its own, synchronously. */
export function mapStage<In, Out>(transform: (item: In, context: StageContext) => Out): Stage<In, Out> {
  return async function* (source, context) {
    for await (const item of source) yield transform(item, context);
  };
}
