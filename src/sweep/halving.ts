// Successive halving (the synchronous form of ASHA): every trial trains to the first rung, the best 1/η go on to the next.

/** Epoch counts of the rungs: minEpochs · η^k up to maxEpochs, which is always the last. */
export function rungEpochs(minEpochs: number, maxEpochs: number, eta: number): number[] {
  const rungs: number[] = [];
  for (let epochs = minEpochs; epochs < maxEpochs; epochs = Math.ceil(epochs * eta)) rungs.push(epochs);
  rungs.push(maxEpochs);
  return rungs;
}

/** Ids of the trials that go on: the best ceil(n / η) by the metric (NaN and failures never do). */
export function promote(results: Array<{ id: string; metric: number | null }>, eta: number, higherIsBetter: boolean): string[] {
  const ranked = results
    .filter((result): result is { id: string; metric: number } => result.metric !== null && Number.isFinite(result.metric))
    .sort((a, b) => (higherIsBetter ? b.metric - a.metric : a.metric - b.metric));
  return ranked.slice(0, Math.max(1, Math.ceil(results.length / eta))).map((result) => result.id);
}
