// A bounded parallel map that keeps input order: at most `concurrency` calls in flight.

export interface OrderedMapOptions {
  /** Calls in flight at once; also the bound on results held while waiting for an earlier one. */
  concurrency: number;
  signal?: AbortSignal;
}

/** Maps `source` with `fn`, yielding results in input order; `undefined` results are skipped. */
export async function* orderedMap<In, Out>(
  source: AsyncIterable<In>,
  fn: (item: In) => Promise<Out | undefined>,
  { concurrency, signal }: OrderedMapOptions,
): AsyncGenerator<Out> {
  const inFlight: Array<Promise<Out | undefined>> = [];
  const iterator = source[Symbol.asyncIterator]();
  let exhausted = false;
  try {
    while (true) {
      while (!exhausted && inFlight.length < concurrency) {
        signal?.throwIfAborted();
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const pending = fn(next.value);
        pending.catch(() => {}); // observed below, in order; avoids an unhandled rejection meanwhile
        inFlight.push(pending);
      }
      const head = inFlight.shift();
      if (!head) return;
      const result = await head;
      if (result !== undefined) yield result;
    }
  } finally {
    if (!exhausted) await iterator.return?.();
    await Promise.allSettled(inFlight);
  }
}
