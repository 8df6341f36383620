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
  /** Updates gathered towards the next point. */
  pending: { updates: number; lossSum: number } | null;
}

export class StepCurve {
  private current: StepCurveState = { every: 1, points: [], pending: null };

  constructor(private readonly limit = 1000) {}

  get points(): readonly StepPoint[] {
    return this.current.points;
  }

  add(step: number, loss: number, learningRate: number): void {
    const { every, points } = this.current;
    const pending = this.current.pending ?? { updates: 0, lossSum: 0 };
    const gathered = { updates: pending.updates + 1, lossSum: pending.lossSum + loss };
    if (gathered.updates < every) {
      this.current = { ...this.current, pending: gathered };
      return;
    }
    const next = [...points, { step, loss: gathered.lossSum / gathered.updates, learningRate }];
    this.current =
      next.length > this.limit ? { every: every * 2, points: mergePairs(next), pending: null } : { every, points: next, pending: null };
  }

  state(): StepCurveState {
    return this.current;
  }

  loadState(state: StepCurveState): void {
    this.current = state;
  }
}

/** Each pair of points becomes one: the mean loss, the later step and learning rate (an odd last point stays). */
function mergePairs(points: StepPoint[]): StepPoint[] {
  const merged: StepPoint[] = [];
  for (let i = 0; i < points.length; i += 2) {
    const [first, second] = [points[i], points[i + 1]];
    merged.push(second ? { step: second.step, loss: (first.loss + second.loss) / 2, learningRate: second.learningRate } : first);
  }
  return merged;
}
