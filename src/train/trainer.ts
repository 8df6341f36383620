// The accumulating trainer: per micro-batch gradients into persistent accumulators, one optimizer update every `accumulate` batches.

import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/samples.ts';
import { BatchProgress, type Chunk } from '../memory/lean-backward/batch-progress.ts';
import { UnsupportedGraph } from '../memory/lean-backward/layer-graph.ts';
import { LeanBackward } from '../memory/lean-backward/lean-step.ts';
import { isOutOfMemory, MemoryBudgetExceeded } from '../memory/out-of-memory.ts';
import { withPeakBytes } from '../memory/peak-bytes.ts';
import { recomputedGradients } from '../memory/recompute.ts';
import { runSegment, type Segment, segmentModel } from '../memory/segments.ts';
import { batchTensors } from './batch-tensor.ts';
import { crossEntropy, regularizationPenalty } from './loss.ts';
import { createOptimizer, type OptimizerConfig, type TrainingOptimizer } from './optimizers.ts';
import { learningRateAt, type Schedule } from './schedules.ts';

export interface TrainerOptions {
  model: tf.LayersModel;
  optimizer: OptimizerConfig;
  /** Batches per optimizer update. */
  accumulate: number;
  schedule?: Schedule;
  l1?: number;
  l2?: number;
  labelSmoothing?: number;
  /** Device bytes a micro-step may use at its peak; over it counts as out of memory (any backend). */
  memoryBudgetBytes?: number;
  /** Times to halve the micro-batch on out-of-memory before giving up. Default 6. */
  maxBackoffs?: number;
  /** Compute each micro-batch in this many chunks from the start (the planner's choice). Default 1. */
  splitFactor?: number;
  /** Keep only block-boundary activations and recompute blocks in the backward pass (EfficientNet models). */
  recompute?: boolean;
  /**
   * 'lean' (default): streamfit's backward pass (src/memory/lean-backward), which keeps about a third of what tfjs' tape
   * keeps, frees as it goes and adds gradients straight into the accumulators. 'autodiff': tfjs' tf.variableGrads, as before.
   */
  backward?: 'lean' | 'autodiff';
  log?: (event: Record<string, unknown>) => void;
}

export interface StepResult {
  loss: number;
  samples: number;
  applied: boolean;
  learningRate: number;
  optimizerStep: number;
}

type Variable = tf.Variable;

export class Trainer {
  readonly model: tf.LayersModel;
  readonly training: TrainingOptimizer;
  private readonly options: TrainerOptions;
  private readonly variables: Variable[];
  private readonly accumulators: Variable[];
  /** Batches and samples added since the last update. */
  batchesInWindow = 0;
  samplesInWindow = 0;
  optimizerStep = 0;
  /** Each batch is computed in this many chunks; doubled by every out-of-memory backoff. */
  splitFactor: number;
  backoffs = 0;
  private readonly segments?: Segment[];
  private readonly frozenPrefix?: { frozen: Segment[]; rest: Segment[] };
  /** Peak tensor bytes of the last measured chunk (only when a budget is set). */
  lastPeakBytes = 0;
  private readonly lean?: LeanBackward;
  private readonly accumulatorOf = new Map<Variable, Variable>();
  /** The batch being added chunk by chunk with the lean backward pass, kept across out-of-memory retries. */
  private leanProgress?: BatchProgress;

  constructor(options: TrainerOptions) {
    this.options = options;
    this.model = options.model;
    this.training = createOptimizer(options.optimizer);
    this.splitFactor = options.splitFactor ?? 1;
    const segments = segmentModel(this.model);
    this.lean = this.leanBackward(options);
    if (options.recompute) {
      if (segments.length < 3) throw new Error('recomputation needs a model made of blocks (EfficientNet)');
      this.segments = segments;
    }
    // Segments below the lowest trainable one run without the gradient tape: a frozen backbone then keeps no activations.
    const lowest = segments.findIndex((segment) => segment.variables.length > 0);
    if (segments.length >= 3 && lowest > 0) this.frozenPrefix = { frozen: segments.slice(0, lowest), rest: segments.slice(lowest) };
    this.variables = this.model.trainableWeights.map((weight) => (weight as unknown as { val: Variable }).val);
    this.accumulators = this.variables.map((variable) => {
      // tf.variable shares the data of its initial value; dispose that tensor so only the variable holds it.
      const zeros = tf.zerosLike(variable);
      const accumulator = tf.variable(zeros, false, `${variable.name}/accumulated_${tf.util.now()}`);
      zeros.dispose();
      return accumulator;
    });
    this.variables.forEach((variable, i) => this.accumulatorOf.set(variable, this.accumulators[i]));
  }

  /** The lean backward pass unless asked for tfjs' autodiff or the model's graph is one it does not take (then logged). */
  private leanBackward(options: TrainerOptions): LeanBackward | undefined {
    if (options.backward === 'autodiff') return undefined;
    const lean = new LeanBackward(this.model);
    try {
      const autodiffLayers = lean.autodiffLayers(options.recompute);
      if (autodiffLayers.length > 0) options.log?.({ event: 'lean-backward', autodiffLayers });
      return lean;
    } catch (error) {
      if (!(error instanceof UnsupportedGraph)) throw error;
      options.log?.({ event: 'lean-backward', unsupported: error.message, using: 'tfjs autodiff' });
      return undefined;
    }
  }

  get learningRate(): number {
    return learningRateAt(this.options.schedule ?? { name: 'constant' }, this.options.optimizer.lr, this.optimizerStep);
  }

  /** Adds one batch's gradients; applies the optimizer when `accumulate` batches are in. Retries with smaller chunks on out-of-memory. */
  step(batch: Batch): StepResult {
    const samples = batch.shape[0];
    let lossSum: number | undefined;
    while (lossSum === undefined) {
      try {
        lossSum = this.addGradients(batch);
      } catch (error) {
        const chunkSize = Math.ceil(samples / this.splitFactor);
        if (!isOutOfMemory(error) || chunkSize <= 1 || this.backoffs >= (this.options.maxBackoffs ?? 6)) throw error;
        this.splitFactor *= 2;
        this.backoffs++;
        this.options.log?.({
          event: 'oom-backoff',
          reason: (error as Error).message.split('\n')[0],
          microBatch: Math.ceil(samples / this.splitFactor),
          accumulate: this.options.accumulate * this.splitFactor,
        });
      }
    }
    this.batchesInWindow++;
    this.samplesInWindow += samples;
    const learningRate = this.learningRate;
    const applied = this.batchesInWindow >= this.options.accumulate;
    if (applied) this.applyUpdate(learningRate);
    return { loss: lossSum / samples, samples, applied, learningRate, optimizerStep: this.optimizerStep };
  }

  /** Computes gradients of the summed loss chunk by chunk; accumulators change only once every chunk has succeeded. */
  private addGradients(batch: Batch): number {
    if (this.lean) return this.addGradientsLean(batch);
    const samples = batch.shape[0];
    const chunkSize = Math.ceil(samples / this.splitFactor);
    // The batch's running gradient sum: one extra copy of the gradients, whatever the number of chunks.
    let batchSum: tf.Tensor[] | undefined;
    let lossSum = 0;
    try {
      for (let start = 0; start < samples; start += chunkSize) {
        const end = Math.min(samples, start + chunkSize);
        const { value, grads } = this.measured(() => this.chunkGradients(batch, start, end));
        lossSum += value;
        if (!batchSum) {
          batchSum = grads;
        } else {
          const previous: tf.Tensor[] = batchSum;
          batchSum = tf.tidy(() => previous.map((sum, i) => tf.add(sum, grads[i])));
          tf.dispose([...previous, ...grads]);
        }
      }
      const sums = batchSum!;
      tf.tidy(() => this.accumulators.forEach((accumulator, i) => accumulator.assign(tf.add(accumulator, sums[i]))));
      return lossSum;
    } finally {
      if (batchSum) tf.dispose(batchSum);
    }
  }

  /**
   * The lean backward pass adds each chunk's gradients straight into the accumulators; after an out-of-memory error the
   * step retries, and `leanProgress` resumes the batch where it failed (batch-progress.ts). A chunk that completed but
   * peaked over the budget keeps its (correct) gradients; the chunks after it are smaller.
   */
  private addGradientsLean(batch: Batch): number {
    if (this.leanProgress?.batch !== batch) this.leanProgress = new BatchProgress(batch, batch.shape[0]);
    const progress = this.leanProgress;
    while (!progress.finished) {
      const chunk = progress.nextChunk(Math.ceil(progress.samples / this.splitFactor));
      const added = new Set<Variable>();
      let peakBytes = 0;
      try {
        const budget = this.options.memoryBudgetBytes;
        const run = () => this.leanChunk(batch, chunk, added);
        const loss = budget ? withPeakBytes(run) : { result: run(), peakBytes: 0 };
        peakBytes = loss.peakBytes;
        progress.completed(chunk, loss.result);
      } catch (error) {
        progress.failed(chunk, added);
        throw error;
      }
      if (this.options.memoryBudgetBytes) {
        this.lastPeakBytes = peakBytes;
        if (peakBytes > this.options.memoryBudgetBytes) throw new MemoryBudgetExceeded(peakBytes, this.options.memoryBudgetBytes);
      }
    }
    this.leanProgress = undefined;
    return progress.lossSum;
  }

  private leanChunk(batch: Batch, chunk: Chunk, added: Set<Variable>): number {
    const { x, y } = batchTensors(batch, chunk.start, chunk.end);
    try {
      const value = this.lean!.step(x, y, {
        labelSmoothing: this.options.labelSmoothing ?? 0,
        // Summed (not mean) loss, so chunks and batches of any size add up to the gradient of the window's total.
        lossScale: chunk.end - chunk.start,
        recompute: this.options.recompute,
        deliver: (variable, gradient) => {
          const accumulator = this.accumulatorOf.get(variable);
          if (!accumulator || chunk.skip.has(variable)) {
            gradient.dispose();
            return;
          }
          tf.tidy(() => accumulator.assign(tf.add(accumulator, gradient)));
          gradient.dispose();
          added.add(variable);
        },
      });
      const loss = value.dataSync()[0];
      value.dispose();
      if (!Number.isFinite(loss)) throw new NonFiniteLoss(loss);
      return loss;
    } finally {
      tf.dispose([x, y]);
    }
  }

  /** Runs a chunk, checking its peak device bytes (parameters and optimizer state included) against the budget when one is set. */
  private measured(run: () => { value: number; grads: tf.Tensor[] }): { value: number; grads: tf.Tensor[] } {
    const budget = this.options.memoryBudgetBytes;
    if (!budget) return run();
    const { result, peakBytes } = withPeakBytes(run);
    this.lastPeakBytes = peakBytes;
    if (peakBytes > budget) {
      tf.dispose(result.grads);
      throw new MemoryBudgetExceeded(peakBytes, budget);
    }
    return result;
  }

  private chunkGradients(batch: Batch, start: number, end: number): { value: number; grads: tf.Tensor[] } {
    const { labelSmoothing = 0 } = this.options;
    const { value, grads } = this.segments
      ? this.recomputedChunk(batch, start, end)
      : tf.tidy(() => {
          const { x, y } = batchTensors(batch, start, end);
          const prefix = this.frozenPrefix;
          const features = prefix ? prefix.frozen.reduce((input, segment) => runSegment(segment, input, true), x as tf.Tensor) : x;
          const forward = () =>
            prefix
              ? prefix.rest.reduce((input, segment) => runSegment(segment, input, true), features)
              : this.model.apply(x, { training: true });
          // Summed (not mean) loss, so chunks and batches of any size add up to the gradient of the window's total.
          const lossOf = () => tf.mul(crossEntropy(forward() as tf.Tensor2D, y, labelSmoothing), end - start) as tf.Scalar;
          const result = tf.variableGrads(lossOf, this.variables);
          return { value: result.value, grads: this.variables.map((variable) => result.grads[variable.name]) };
        });
    const loss = value.dataSync()[0];
    value.dispose();
    if (!Number.isFinite(loss)) {
      tf.dispose(grads);
      throw new NonFiniteLoss(loss);
    }
    return { value: loss, grads };
  }

  private recomputedChunk(batch: Batch, start: number, end: number): { value: tf.Scalar; grads: tf.Tensor[] } {
    const { labelSmoothing = 0 } = this.options;
    const { x, y } = batchTensors(batch, start, end);
    try {
      const lossOf = (probabilities: tf.Tensor) =>
        tf.mul(crossEntropy(probabilities as tf.Tensor2D, y, labelSmoothing), end - start) as tf.Scalar;
      const { loss, gradients } = recomputedGradients(this.segments!, x, lossOf, Math.floor(Math.random() * 2 ** 30));
      const grads = this.variables.map((variable) => gradients.get(variable.name) ?? tf.zerosLike(variable));
      return { value: loss, grads };
    } finally {
      tf.dispose([x, y]);
    }
  }

  private applyUpdate(learningRate: number): void {
    const { l1 = 0, l2 = 0 } = this.options;
    this.training.setLearningRate(learningRate);
    tf.tidy(() => {
      const scale = 1 / this.samplesInWindow;
      const gradients: tf.NamedTensorMap = {};
      const penalty =
        l1 || l2 ? tf.variableGrads(() => regularizationPenalty(this.variables, l1, l2) ?? tf.scalar(0), this.variables).grads : {};
      this.variables.forEach((variable, i) => {
        const mean = tf.mul(this.accumulators[i], scale);
        gradients[variable.name] = penalty[variable.name] ? tf.add(mean, penalty[variable.name]) : mean;
      });
      this.training.apply(gradients, this.variables);
    });
    tf.tidy(() => this.accumulators.forEach((accumulator) => accumulator.assign(tf.zerosLike(accumulator))));
    this.batchesInWindow = 0;
    this.samplesInWindow = 0;
    this.optimizerStep++;
  }

  /** Host copies of the accumulators and window position, for checkpoints. */
  accumulatorState(): { values: Float32Array[]; batchesInWindow: number; samplesInWindow: number } {
    return {
      values: this.accumulators.map((accumulator) => accumulator.dataSync() as Float32Array),
      batchesInWindow: this.batchesInWindow,
      samplesInWindow: this.samplesInWindow,
    };
  }

  restoreAccumulators(state: { values: Float32Array[]; batchesInWindow: number; samplesInWindow: number }): void {
    tf.tidy(() => this.accumulators.forEach((accumulator, i) => accumulator.assign(tf.tensor(state.values[i], accumulator.shape))));
    this.batchesInWindow = state.batchesInWindow;
    this.samplesInWindow = state.samplesInWindow;
  }

  dispose(): void {
    tf.dispose(this.accumulators);
    this.training.optimizer.dispose();
  }
}

export class NonFiniteLoss extends Error {
  constructor(readonly loss: number) {
    super(`loss is ${loss}: training diverged (lower the learning rate)`);
  }
}
