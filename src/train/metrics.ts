// Classification metrics from predicted probabilities: loss, accuracy, top-k, per-class accuracy and the confusion matrix.

export interface EvaluationTotals {
  classes: number;
  count: number;
  lossSum: number;
  correct: number;
  topKCorrect: number;
  /** confusion[actual][predicted] */
  confusion: number[][];
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  topK: number;
  k: number;
  perClassAccuracy: number[];
  confusion: number[][];
  count: number;
}

export function emptyTotals(classes: number): EvaluationTotals {
  return {
    classes,
    count: 0,
    lossSum: 0,
    correct: 0,
    topKCorrect: 0,
    confusion: Array.from({ length: classes }, () => new Array(classes).fill(0)),
  };
}

/** Adds a batch of probabilities (row-major, n × classes) with their true labels. */
export function addBatch(totals: EvaluationTotals, probabilities: ArrayLike<number>, labels: ArrayLike<number>, k: number): void {
  const { classes } = totals;
  for (let row = 0; row < labels.length; row++) {
    const label = labels[row];
    let predicted = 0;
    for (let c = 1; c < classes; c++) if (probabilities[row * classes + c] > probabilities[row * classes + predicted]) predicted = c;
    const trueProbability = probabilities[row * classes + label];
    let higher = 0;
    for (let c = 0; c < classes; c++) if (probabilities[row * classes + c] > trueProbability) higher++;
    totals.lossSum += -Math.log(Math.max(trueProbability, 1e-7));
    totals.correct += predicted === label ? 1 : 0;
    totals.topKCorrect += higher < k ? 1 : 0;
    totals.confusion[label][predicted]++;
    totals.count++;
  }
}

export function summarize(totals: EvaluationTotals, k: number): Evaluation {
  const count = Math.max(1, totals.count);
  return {
    loss: totals.lossSum / count,
    accuracy: totals.correct / count,
    topK: totals.topKCorrect / count,
    k,
    perClassAccuracy: totals.confusion.map((row, c) => {
      const total = row.reduce((sum, n) => sum + n, 0);
      return total ? row[c] / total : 0;
    }),
    confusion: totals.confusion,
    count: totals.count,
  };
}
