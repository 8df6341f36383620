// Per-step loss and learning rate for the report, kept to a bounded number of points however long the run: when full,
// neighbouring points merge in pairs (TensorBoard keeps a sample; a mean keeps the curve's level honest).

export interface StepPoint {
  /** The last optimizer update the point covers. */
  step: number;
  /** Mean loss over the updates the point covers. */
  loss: number;
  learningRate: number;
}

export interface StepCurveState {
  /** Updates per point. */
  every: number;
  points: StepPoint[];
  /** Updates gathered towards the next point, and the last of them. */
  pending: { updates: number; lossSum: number; step: number; learningRate: number } | null;
}

export class StepCurve {
  private current: StepCurveState = { every: 1, points: [], pending: null };

  constructor(private readonly limit = 1000) {}

  /** The points, and the updates gathered towards the next one as a last point of their own. */
  get points(): readonly StepPoint[] {
    const { points, pending } = this.current;
    return pending
      ? [...points, { step: pending.step, loss: pending.lossSum / pending.updates, learningRate: pending.learningRate }]
      : points;
  }

  add(step: number, loss: number, learningRate: number): void {
    const { every, points } = this.current;
    const pending = this.current.pending ?? { updates: 0, lossSum: 0 };
    const gathered = { updates: pending.updates + 1, lossSum: pending.lossSum + loss, step, learningRate };
    if (gathered.updates < every) {
      this.current = { ...this.current, pending: gathered };
      return;
    }
    const next = [...points, { step, loss: gathered.lossSum / gathered.updates, learningRate }];
    if (next.length <= this.limit) {
      this.current = { every, points: next, pending: null };
      return;
    }
    // Pairs merge; an odd last point goes back to pending, so that every point covers the same number of updates.
    const odd = next.length % 2 === 1 ? next.pop() : undefined;
    this.current = {
      every: every * 2,
      points: mergePairs(next),
      pending: odd ? { updates: every, lossSum: odd.loss * every, step: odd.step, learningRate: odd.learningRate } : null,
    };
  }

  state(): StepCurveState {
    return this.current;
  }

  loadState(state: StepCurveState): void {
    this.current = state;
  }
}

/** Each pair of points (an even number of them) becomes one: the mean loss, the later step and learning rate. */
function mergePairs(points: StepPoint[]): StepPoint[] {
  const merged: StepPoint[] = [];
  for (let i = 0; i + 1 < points.length; i += 2) {
    const [first, second] = [points[i], points[i + 1]];
    merged.push({ step: second.step, loss: (first.loss + second.loss) / 2, learningRate: second.learningRate });
  }
  return merged;
}
