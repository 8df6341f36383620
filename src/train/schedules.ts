// Learning-rate schedules as pure functions of the optimizer step.

export type Schedule =
  | { name: 'constant' }
  | { name: 'step'; everySteps: number; factor: number }
  | { name: 'cosine'; warmupSteps: number; totalSteps: number; minimumFactor?: number };

/** The learning rate at `step` (0-based count of optimizer updates) for a base rate. */
export function learningRateAt(schedule: Schedule, baseRate: number, step: number): number {
  switch (schedule.name) {
    case 'constant':
      return baseRate;
    case 'step':
      return baseRate * schedule.factor ** Math.floor(step / schedule.everySteps);
    case 'cosine': {
      const { warmupSteps, totalSteps, minimumFactor = 0 } = schedule;
      if (step < warmupSteps) return (baseRate * (step + 1)) / warmupSteps;
      const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
      const cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
      return baseRate * (minimumFactor + (1 - minimumFactor) * cosine);
    }
  }
}
