// The stage contract and a typed, fluent way to compose stages in data order; a chain can describe itself.

import { formatBytes } from '../config/bytes.ts';
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

/** What a stage says about itself: its name, its options (defaults filled in) and what it holds in memory at most. */
export interface StageInfo {
  name: string;
  options: Record<string, unknown>;
  /** Items and bytes the stage holds at once, when it buffers (a shuffle buffer, decoders in flight, a queue). */
  memory?: { items?: number; bytes?: number; what: string };
  /** The stages a compound stage (preprocess) is made of. */
  stages?: StageInfo[];
}

/** A stage maps one async stream to another; the shape `stream.compose` and `stream.pipeline` accept. */
export type Stage<In, Out> = ((source: AsyncIterable<In>, context: StageContext) => AsyncIterable<Out>) & { readonly info?: StageInfo };

/** Where samples come from: a function of the context, so each epoch is a fresh pass. */
export type SourceStage<Out> = ((context: StageContext) => AsyncIterable<Out>) & { readonly description?: string };

/** Attaches a stage's description (what `describe` prints) to its function. */
export function describedStage<In, Out>(
  info: StageInfo,
  stage: (source: AsyncIterable<In>, context: StageContext) => AsyncIterable<Out>,
): Stage<In, Out> {
  return Object.assign(stage, { info });
}

/** A chain of stages; `pipe` type-checks that each stage accepts the previous one's output. */
export class Flow<T> implements AsyncIterable<T> {
  constructor(
    private readonly stream: AsyncIterable<T>,
    readonly context: StageContext,
    /** What made this flow, source first. */
    readonly stages: readonly StageInfo[] = [],
  ) {}

  pipe<U>(stage: Stage<T, U>): Flow<U> {
    const info = stage.info ?? { name: stage.name || 'stage', options: {} };
    return new Flow(stage(this.stream, this.context), this.context, [...this.stages, info]);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.stream[Symbol.asyncIterator]();
  }
}

export function flow<T>(source: SourceStage<T>, context: StageContext): Flow<T> {
  const info: StageInfo = { name: 'source', options: source.description ? { from: source.description } : {} };
  return new Flow(source(context), context, [info]);
}

/** A stage that transforms each item on its own, synchronously. */
export function mapStage<In, Out>(transform: (item: In, context: StageContext) => Out, info?: StageInfo): Stage<In, Out> {
  const stage = async function* (source: AsyncIterable<In>, context: StageContext) {
    for await (const item of source) yield transform(item, context);
  };
  return info ? describedStage(info, stage) : stage;
}

/** The chain, one stage a line with its options and memory bound, in the spirit of tfjs-data's `summary()`. */
export function describe(chain: Flow<unknown> | readonly StageInfo[]): string {
  const stages = chain instanceof Flow ? chain.stages : chain;
  const lines: string[] = [];
  const add = (info: StageInfo, depth: number) => {
    const options = Object.entries(info.options)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key}=${formatOption(value)}`)
      .join(' ');
    const memory = info.memory ? `  holds ≤ ${formatMemory(info.memory)}` : '';
    lines.push(`${'  '.repeat(depth)}${info.name.padEnd(10)} ${options}${memory}`.trimEnd());
    for (const inner of info.stages ?? []) add(inner, depth + 1);
  };
  for (const info of stages) add(info, 0);
  return lines.join('\n');
}

function formatOption(value: unknown): string {
  if (typeof value === 'function') return value.name ? `${value.name}()` : 'function';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function formatMemory({ items, bytes, what }: NonNullable<StageInfo['memory']>): string {
  const parts = [items === undefined ? undefined : `${items} ${what}`, bytes === undefined ? undefined : formatBytes(bytes)];
  return parts.filter(Boolean).join(', ');
}
