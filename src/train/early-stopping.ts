// Early stopping on a chosen metric with patience and min-delta; remembers the best epoch so its weights can be restored.

export interface EarlyStoppingOptions {
  metric: 'valLoss' | 'valAccuracy';
  patience: number;
  minDelta: number;
}

export interface EarlyStoppingState {
  best: number | null;
  bestEpoch: number | null;
  waited: number;
}

export function initialEarlyStopping(): EarlyStoppingState {
  return { best: null, bestEpoch: null, waited: 0 };
}

/** Records one epoch's value; says whether it is the best so far and whether to stop. */
export function observeEpoch(
  state: EarlyStoppingState,
  options: EarlyStoppingOptions,
  epoch: number,
  value: number,
): { state: EarlyStoppingState; improved: boolean; stop: boolean } {
  const higherIsBetter = options.metric === 'valAccuracy';
  const improved = state.best === null || (higherIsBetter ? value > state.best + options.minDelta : value < state.best - options.minDelta);
  const next = improved ? { best: value, bestEpoch: epoch, waited: 0 } : { ...state, waited: state.waited + 1 };
  return { state: next, improved, stop: !improved && next.waited >= options.patience };
}
