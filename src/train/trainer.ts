// The accumulating trainer: per micro-batch gradients into persistent accumulators, one optimizer update every `accumulate` batches.

import * as tf from '@tensorflow/tfjs';
import { openDeviceErrorScope } from '../backend/webgpu-health.ts';
import { capPooledBytes, releasePooledBuffers, withEarlySubmitBound } from '../backend/webgpu-memory.ts';
import type { Batch } from '../data/samples.ts';
import { ConfigError, StreamfitError } from '../errors.ts';
import { seedOf } from '../math/random.ts';
import { UnsupportedGraph } from '../memory/lean-backward/layer-graph.ts';
import { LeanBackward } from '../memory/lean-backward/lean-step.ts';
import { type Chunk, MicroBatchProgress } from '../memory/lean-backward/micro-batch-progress.ts';
import { isOutOfMemory, MemoryBudgetExceeded } from '../memory/out-of-memory.ts';
import { withPeakBytes } from '../memory/peak-bytes.ts';
import { largestOutputBytesPerSample } from '../memory/planner.ts';
import { recomputedGradients } from '../memory/recompute.ts';
import { runSegment, type Segment, segmentModel } from '../memory/segments.ts';
import { seedDropoutMasks } from '../models/layers.ts';
import { batchTensors } from './batch-tensor.ts';
import { correctCount, crossEntropy, regularizationPenalty } from './loss.ts';
import { createOptimizer, type OptimizerConfig, type TrainingOptimizer } from './optimizers.ts';
import { learningRateAt, type Schedule } from './schedules.ts';
import { readTensor, writeVariable, zeroVariable } from './workers/tensor-memory.ts';
import { WorkerLost, WorkerPool } from './workers/worker-pool.ts';
import type { WorkerSlot } from './workers/worker-slots.ts';

export interface TrainerOptions {
  model: tf.LayersModel;
  optimizer: OptimizerConfig;
  /** Micro-batches per optimizer update (batchSize / microBatch). */
  accumulate: number;
  schedule?: Schedule;
  l1?: number;
  l2?: number;
  labelSmoothing?: number;
  /** Device bytes a micro-step may use at its peak; over it counts as out of memory (any backend). */
  memoryBudgetBytes?: number;
  /** Times to halve the chunk size on out-of-memory before giving up. Default 6. */
  maxBackoffs?: number;
  /** Compute each micro-batch in this many chunks from the start (a resumed run's count). Default 1. */
  chunks?: number;
  /** Keep only block-boundary activations and recompute blocks in the backward pass (EfficientNet models). */
  recompute?: boolean;
  /**
   * 'lean' (default): streamfit's backward pass (src/memory/lean-backward), which keeps about a third of what tfjs' tape
   * keeps, frees as it goes and adds gradients straight into the accumulators. 'autodiff': tfjs' tf.variableGrads.
   */
  backward?: 'lean' | 'autodiff';
  /**
   * Seeds the dropout and stochastic-depth masks: each chunk's are a function of (seed, optimizer step, micro-batch in the
   * update, first row), so a rerun or a resumed run draws the same ones. Default 0.
   */
  seed?: number;
  /** Hears every out-of-memory backoff (the run's metrics file and progress report it). */
  onBackoff?: (event: BackoffEvent) => void;
  /** Hears, once, which layers the lean backward pass leaves to tfjs' autodiff, or why it does not take the model. */
  onNotice?: (text: string, fields: Record<string, unknown>) => void;
  /**
   * Data-parallel workers (src/train/workers), one per slot: with two or more, each micro-batch of a window is computed by
   * worker (its index in the window mod N) and this trainer only sums, applies the optimizer and shares the weights.
   * `memoryBudgetBytes` is then each worker's. Default: none (every micro-batch in this thread).
   */
  workers?: readonly WorkerSlot[];
}

/** A micro-batch ran out of memory and now runs in more chunks (same samples, same batch size). */
export interface BackoffEvent {
  reason: string;
  microBatch: number;
  chunks: number;
  chunkSize: number;
}

export interface StepResult {
  /** Samples in this micro-batch. */
  samples: number;
  /** Whether this micro-batch completed an optimizer update. */
  applied: boolean;
  learningRate: number;
  optimizerStep: number;
  /** Only when `applied`: the update's mean loss, its samples and how many the model got right, read from the device once per update. */
  update?: { loss: number; samples: number; correct: number };
}

/** Gradients and accumulators as host arrays (checkpoints), with the window's position and loss sum. */
export interface AccumulatorState {
  values: Float32Array[];
  batchesInWindow: number;
  samplesInWindow: number;
  /** Summed loss of the window's samples so far. */
  lossSum: number;
  /** Samples of the window the model got right (in its training-mode forward pass). */
  correct: number;
}

type Variable = tf.Variable;

/** A chunk's summed loss and correct count, on the device. */
interface WindowTotals {
  loss: tf.Scalar;
  correct: tf.Scalar;
}

/** One chunk's summed loss, gradients and correct count, on the device. */
interface ChunkGradients {
  value: tf.Scalar;
  grads: tf.Tensor[];
  correct: tf.Scalar;
}

export class Trainer {
  readonly model: tf.LayersModel;
  readonly training: TrainingOptimizer;
  private readonly options: TrainerOptions;
  private readonly variables: Variable[];
  private readonly accumulators: Variable[];
  /** The window's summed loss, kept on the device: read once per update, so a GPU is never stalled per micro-batch. */
  private readonly windowLoss: Variable;
  /** The window's correct predictions, read in the same read as the loss. */
  private readonly windowCorrect: Variable;
  /** Micro-batches and samples added since the last update. */
  batchesInWindow = 0;
  samplesInWindow = 0;
  optimizerStep = 0;
  /** Each micro-batch is computed in this many chunks (an out-of-memory split); doubled by every backoff. */
  chunks: number;
  backoffs = 0;
  private readonly segments?: Segment[];
  private readonly frozenPrefix?: { frozen: Segment[]; rest: Segment[] };
  /** Peak tensor bytes of the last measured chunk (only when a budget is set). */
  lastPeakBytes = 0;
  private readonly lean?: LeanBackward;
  /** The model's largest layer output a sample, for webgpu's early-submit bound (withEarlySubmitBound). */
  private readonly largestOutputBytes: number;
  private readonly accumulatorOf = new Map<Variable, Variable>();
  /** Accumulators known to hold zeros: a window's first gradient is assigned to them, not added (one kernel fewer each). */
  private readonly zeroAccumulators = new Set<Variable>();
  /** The micro-batch being added chunk by chunk with the lean backward pass, kept across out-of-memory retries. */
  private leanProgress?: MicroBatchProgress;
  /** The data-parallel workers, when there are two or more. */
  readonly workerPool?: WorkerPool;

  constructor(options: TrainerOptions) {
    this.options = options;
    this.model = options.model;
    this.training = createOptimizer(options.optimizer);
    this.chunks = options.chunks ?? 1;
    this.largestOutputBytes = largestOutputBytesPerSample(this.model);
    capPooledBytes(options.memoryBudgetBytes); // webgpu: the device holds no more than the budget for tfjs' buffer pool
    const segments = segmentModel(this.model);
    this.lean = this.leanBackward(options);
    if (options.recompute) {
      if (segments.length < 3) throw new ConfigError('recompute', 'recomputation needs a model made of blocks (EfficientNet)');
      this.segments = segments;
    }
    // Segments below the lowest trainable one run without the gradient tape: a frozen backbone then keeps no activations.
    const lowest = segments.findIndex((segment) => segment.variables.length > 0);
    if (segments.length >= 3 && lowest > 0) this.frozenPrefix = { frozen: segments.slice(0, lowest), rest: segments.slice(lowest) };
    this.variables = this.model.trainableWeights.map((weight) => (weight as unknown as { val: Variable }).val);
    // tf.variable shares the data of its initial value; dispose that tensor so only the variable holds it.
    const zerosVariable = (like: tf.Tensor, name: string) => {
      const zeros = tf.zerosLike(like);
      const variable = tf.variable(zeros, false, `${name}_${tf.util.now()}`);
      zeros.dispose();
      return variable;
    };
    this.accumulators = this.variables.map((variable) => zerosVariable(variable, `${variable.name}/accumulated`));
    this.windowLoss = tf.tidy(() => zerosVariable(tf.scalar(0), 'window_loss'));
    this.windowCorrect = tf.tidy(() => zerosVariable(tf.scalar(0), 'window_correct'));
    this.variables.forEach((variable, i) => this.accumulatorOf.set(variable, this.accumulators[i]));
    for (const accumulator of this.accumulators) this.zeroAccumulators.add(accumulator);
    if (options.workers && options.workers.length > 1) {
      const { optimizer, labelSmoothing, memoryBudgetBytes, maxBackoffs, recompute, backward, seed } = options;
      this.workerPool = new WorkerPool(
        this.model,
        options.workers,
        { optimizer, labelSmoothing, memoryBudgetBytes, maxBackoffs, recompute, backward, seed },
        { onBackoff: (event) => this.options.onBackoff?.(event) },
      );
    }
  }

  /** The lean backward pass unless asked for tfjs' autodiff or the model's graph is one it does not take (then said so). */
  private leanBackward(options: TrainerOptions): LeanBackward | undefined {
    if (options.backward === 'autodiff') return undefined;
    const lean = new LeanBackward(this.model);
    try {
      const autodiffLayers = lean.autodiffLayers(options.recompute);
      if (autodiffLayers.length > 0)
        options.onNotice?.(`lean backward pass: tfjs' autodiff for the layers without a rule: ${autodiffLayers.join(', ')}`, {
          autodiffLayers,
        });
      return lean;
    } catch (error) {
      if (!(error instanceof UnsupportedGraph)) throw error;
      options.onNotice?.(`lean backward pass: ${error.message}; using tfjs' autodiff`, { unsupported: error.message });
      return undefined;
    }
  }

  get learningRate(): number {
    return learningRateAt(this.options.schedule ?? { name: 'constant' }, this.options.optimizer.lr, this.optimizerStep);
  }

  /**
   * Adds one micro-batch's gradients and loss (on the device); when `accumulate` micro-batches are in, reads the window's
   * loss once, refuses a non-finite one before it reaches the weights, and applies the optimizer. Retries in smaller chunks
   * on out-of-memory, so no sample is lost.
   */
  async step(batch: Batch): Promise<StepResult> {
    if (this.workerPool) return this.stepOnWorkers(this.workerPool, batch);
    const samples = batch.shape[0];
    for (;;) {
      try {
        await this.addGradients(batch);
        break;
      } catch (error) {
        const chunkSize = Math.ceil(samples / this.chunks);
        if (!isOutOfMemory(error) || chunkSize <= 1 || this.backoffs >= (this.options.maxBackoffs ?? 6)) throw error;
        this.chunks *= 2;
        this.backoffs++;
        releasePooledBuffers(); // webgpu: buffers sized for the failed chunk would otherwise stay pooled
        this.options.onBackoff?.({
          reason: (error as Error).message.split('\n')[0],
          microBatch: samples,
          chunks: this.chunks,
          chunkSize: Math.ceil(samples / this.chunks),
        });
      }
    }
    this.batchesInWindow++;
    this.samplesInWindow += samples;
    const learningRate = this.learningRate;
    if (this.batchesInWindow < this.options.accumulate) return { samples, applied: false, learningRate, optimizerStep: this.optimizerStep };
    const update = await this.finishWindow(learningRate);
    return { samples, applied: true, learningRate, optimizerStep: this.optimizerStep, update };
  }

  /**
   * Applies a window that holds fewer than `accumulate` micro-batches (the end of an epoch), averaged over the samples it
   * holds, as timm does with its last batch; undefined when the window is empty.
   */
  async applyPartialWindow(): Promise<{ loss: number; samples: number; correct: number; learningRate: number } | undefined> {
    if (this.batchesInWindow === 0) return undefined;
    const learningRate = this.learningRate;
    if (this.workerPool) await this.collectFromWorkers(this.workerPool);
    return { ...(await this.finishWindow(learningRate)), learningRate };
  }

  /**
   * Hands the micro-batch to its worker and returns at once (the workers compute while the pipeline brings the next
   * ones); at the window's last micro-batch, collects the workers' sums and applies the update as step() does.
   */
  private async stepOnWorkers(pool: WorkerPool, batch: Batch): Promise<StepResult> {
    const samples = batch.shape[0];
    await pool.submit(
      batch,
      { optimizerStep: this.optimizerStep, indexInWindow: this.batchesInWindow },
      this.chunks,
      this.options.accumulate,
    );
    this.batchesInWindow++;
    this.samplesInWindow += samples;
    const learningRate = this.learningRate;
    if (this.batchesInWindow < this.options.accumulate) return { samples, applied: false, learningRate, optimizerStep: this.optimizerStep };
    await this.collectFromWorkers(pool);
    const update = await this.finishWindow(learningRate);
    return { samples, applied: true, learningRate, optimizerStep: this.optimizerStep, update };
  }

  /**
   * Adds the workers' sums of the micro-batches handed out since the last collect into the accumulators. A worker that
   * died is replaced and those micro-batches are computed again under the out-of-memory backoff (the same samples in
   * twice the chunks), so none is lost or counted twice; past maxBackoffs the error stops the run.
   */
  private async collectFromWorkers(pool: WorkerPool): Promise<void> {
    for (;;) {
      try {
        const sums = await pool.collect();
        this.chunks = Math.max(this.chunks, pool.chunks);
        this.addToAccumulators(sums.gradients, sums.lossSum, sums.correct);
        return;
      } catch (error) {
        if (!(error instanceof WorkerLost)) throw error;
        const microBatch = pool.pendingMicroBatch;
        if (Math.ceil(microBatch / this.chunks) <= 1 || this.backoffs >= (this.options.maxBackoffs ?? 6)) throw error;
        this.chunks *= 2;
        this.backoffs++;
        this.options.onBackoff?.({
          reason: error.message,
          microBatch,
          chunks: this.chunks,
          chunkSize: Math.ceil(microBatch / this.chunks),
        });
        await pool.retry(this.chunks);
      }
    }
  }

  /** Adds summed gradients (flat, in the order of the trainable weights), a loss sum and a correct count into the window. */
  private addToAccumulators(gradients: Float32Array, lossSum: number, correct: number): void {
    let offset = 0;
    for (const accumulator of this.accumulators) {
      const sum = gradients.subarray(offset, offset + accumulator.size);
      // A zeroed accumulator takes the sums as they are (in place where the backend allows); else they are added.
      if (this.zeroAccumulators.delete(accumulator)) writeVariable(accumulator, sum);
      else tf.tidy(() => accumulator.assign(tf.add(accumulator, tf.tensor(sum.slice(), accumulator.shape))));
      offset += accumulator.size;
    }
    tf.tidy(() => {
      this.windowLoss.assign(tf.add(this.windowLoss, tf.scalar(lossSum)));
      this.windowCorrect.assign(tf.add(this.windowCorrect, tf.scalar(correct)));
    });
  }

  /** Reads the window's loss and correct count once, refuses a non-finite loss before it reaches the weights, and applies the update. */
  private async finishWindow(learningRate: number): Promise<{ loss: number; samples: number; correct: number }> {
    const [lossSum, correct] = await this.readWindow();
    const update = { loss: lossSum / this.samplesInWindow, samples: this.samplesInWindow, correct };
    if (!Number.isFinite(lossSum)) throw new NonFiniteLoss(update.loss);
    this.applyUpdate(learningRate);
    return update;
  }

  /** The window's summed loss and correct count, in one read from the device. */
  private async readWindow(): Promise<[number, number]> {
    const both = tf.stack([this.windowLoss, this.windowCorrect]);
    try {
      const [lossSum, correct] = await both.data();
      return [lossSum, correct];
    } finally {
      both.dispose();
    }
  }

  /** The seed of a chunk's dropout masks: a function of where it is in the run, never of timing. */
  private maskSeed(start: number): number {
    return seedOf(this.options.seed ?? 0, 'masks', this.optimizerStep, this.batchesInWindow, start);
  }

  /** Computes gradients of the summed loss chunk by chunk; accumulators change only once every chunk has succeeded. */
  private async addGradients(batch: Batch): Promise<void> {
    if (this.lean) {
      await this.addGradientsLean(batch);
      return;
    }
    const samples = batch.shape[0];
    const chunkSize = Math.ceil(samples / this.chunks);
    // The micro-batch's running gradient sum: one extra copy of the gradients, whatever the number of chunks.
    let batchSum: tf.Tensor[] | undefined;
    let lossSum: tf.Scalar | undefined;
    let correctSum: tf.Scalar | undefined;
    // webgpu reports a failed allocation asynchronously: the sums reach the accumulators only once the device has said so.
    const deviceErrors = openDeviceErrorScope();
    try {
      for (let start = 0; start < samples; start += chunkSize) {
        const end = Math.min(samples, start + chunkSize);
        const { value, grads, correct } = this.measured(() =>
          withEarlySubmitBound(this.largestOutputBytes * (end - start), () => this.chunkGradients(batch, start, end)),
        );
        if (!batchSum || !lossSum || !correctSum) {
          batchSum = grads;
          lossSum = value;
          correctSum = correct;
        } else {
          const [previous, previousLoss, previousCorrect]: [tf.Tensor[], tf.Scalar, tf.Scalar] = [batchSum, lossSum, correctSum];
          batchSum = tf.tidy(() => previous.map((sum, i) => tf.add(sum, grads[i])));
          lossSum = tf.tidy(() => tf.add(previousLoss, value) as tf.Scalar);
          correctSum = tf.tidy(() => tf.add(previousCorrect, correct) as tf.Scalar);
          tf.dispose([...previous, ...grads, previousLoss, value, previousCorrect, correct]);
        }
      }
      await deviceErrors.check();
      const [sums, loss, correct] = [batchSum!, lossSum!, correctSum!];
      tf.tidy(() => {
        this.accumulators.forEach((accumulator, i) => accumulator.assign(tf.add(accumulator, sums[i])));
        this.zeroAccumulators.clear();
        this.windowLoss.assign(tf.add(this.windowLoss, loss));
        this.windowCorrect.assign(tf.add(this.windowCorrect, correct));
      });
    } finally {
      await deviceErrors.close();
      if (batchSum) tf.dispose(batchSum);
      lossSum?.dispose();
      correctSum?.dispose();
    }
  }

  /**
   * The lean backward pass adds each chunk's gradients straight into the accumulators; after an out-of-memory error the
   * step retries, and `leanProgress` resumes the micro-batch where it failed (micro-batch-progress.ts). A chunk that
   * completed but peaked over the budget keeps its (correct) gradients; the chunks after it are smaller.
   * webgpu reports a failed allocation only later, when anything computed since may be garbage: there a chunk's gradients
   * are held until the device has said the chunk succeeded (one copy of the gradients, as tfjs' autodiff keeps).
   */
  private async addGradientsLean(batch: Batch): Promise<void> {
    if (this.leanProgress?.batch !== batch) this.leanProgress = new MicroBatchProgress(batch, batch.shape[0]);
    const progress = this.leanProgress;
    const budget = this.options.memoryBudgetBytes;
    const reportsLater = tf.getBackend() === 'webgpu';
    while (!progress.finished) {
      const chunk = progress.nextChunk(Math.ceil(progress.samples / this.chunks));
      const added = new Set<Variable>();
      const held = reportsLater ? new Map<Variable, tf.Tensor>() : undefined;
      let peakBytes = 0;
      let heldTotals: WindowTotals | undefined;
      const deviceErrors = openDeviceErrorScope();
      try {
        const run = () =>
          withEarlySubmitBound(this.largestOutputBytes * (chunk.end - chunk.start), () => this.leanChunk(batch, chunk, added, held));
        const measured = budget ? withPeakBytes(run) : { result: run(), peakBytes: 0 };
        peakBytes = measured.peakBytes;
        heldTotals = measured.result;
        await deviceErrors.check();
        if (held && heldTotals) {
          const totals = heldTotals;
          tf.tidy(() => {
            for (const [variable, gradient] of held) this.addInto(variable, gradient, added);
            this.addToWindow(totals);
          });
        }
        progress.completed(chunk);
      } catch (error) {
        progress.failed(chunk, added);
        throw error;
      } finally {
        await deviceErrors.close();
        if (heldTotals) tf.dispose([heldTotals.loss, heldTotals.correct]);
        if (held) tf.dispose([...held.values()]);
      }
      if (budget) {
        this.lastPeakBytes = peakBytes;
        if (peakBytes > budget) throw new MemoryBudgetExceeded(peakBytes, budget);
      }
    }
    this.leanProgress = undefined;
  }

  private addInto(variable: Variable, gradient: tf.Tensor, added: Set<Variable>): void {
    const accumulator = this.accumulatorOf.get(variable)!;
    if (this.zeroAccumulators.delete(accumulator)) accumulator.assign(gradient);
    else tf.tidy(() => accumulator.assign(tf.add(accumulator, gradient)));
    added.add(variable);
  }

  private addToWindow({ loss, correct }: WindowTotals): void {
    tf.tidy(() => {
      this.windowLoss.assign(tf.add(this.windowLoss, loss));
      this.windowCorrect.assign(tf.add(this.windowCorrect, correct));
    });
  }

  /**
   * One chunk's lean forward and backward pass, its dropout masks seeded: gradients into the accumulators, the summed loss
   * and correct count into the window's; or, with `held`, all kept for the caller to add once the device has confirmed them
   * (the loss and count are then returned).
   */
  private leanChunk(batch: Batch, chunk: Chunk, added: Set<Variable>, held?: Map<Variable, tf.Tensor>): WindowTotals | undefined {
    const { x, y } = batchTensors(batch, chunk.start, chunk.end);
    const seed = this.maskSeed(chunk.start);
    const releaseMasks = seedDropoutMasks(this.model.layers, seed);
    let correct: tf.Scalar | undefined;
    try {
      const loss = this.lean!.step(x, y, {
        labelSmoothing: this.options.labelSmoothing ?? 0,
        // Summed (not mean) loss, so chunks and batches of any size add up to the gradient of the window's total.
        lossScale: chunk.end - chunk.start,
        recompute: this.options.recompute,
        seed,
        observe: (probabilities) => {
          correct = tf.keep(correctCount(probabilities as tf.Tensor2D, y));
        },
        deliver: (variable, gradient) => {
          if (!this.accumulatorOf.has(variable) || chunk.skip.has(variable)) gradient.dispose();
          else if (held) held.set(variable, gradient);
          else {
            this.addInto(variable, gradient, added);
            gradient.dispose();
          }
        },
      });
      const totals = { loss, correct: correct! };
      if (held) return totals;
      this.addToWindow(totals);
      tf.dispose([loss, correct]);
      return undefined;
    } catch (error) {
      correct?.dispose();
      throw error;
    } finally {
      releaseMasks();
      tf.dispose([x, y]);
    }
  }

  /** Runs a chunk, checking its peak device bytes (parameters and optimizer state included) against the budget when one is set. */
  private measured(run: () => ChunkGradients): ChunkGradients {
    const budget = this.options.memoryBudgetBytes;
    if (!budget) return run();
    const { result, peakBytes } = withPeakBytes(run);
    this.lastPeakBytes = peakBytes;
    if (peakBytes > budget) {
      tf.dispose([...result.grads, result.value, result.correct]);
      throw new MemoryBudgetExceeded(peakBytes, budget);
    }
    return result;
  }

  /** The summed loss of rows [start, end), its gradients and the correct count, left on the device. */
  private chunkGradients(batch: Batch, start: number, end: number): ChunkGradients {
    if (this.segments) return this.recomputedChunk(batch, start, end);
    const releaseMasks = seedDropoutMasks(this.model.layers, this.maskSeed(start));
    try {
      return this.plainChunk(batch, start, end);
    } finally {
      releaseMasks();
    }
  }

  private plainChunk(batch: Batch, start: number, end: number): ChunkGradients {
    const { labelSmoothing = 0 } = this.options;
    let correct: tf.Scalar | undefined;
    try {
      return tf.tidy(() => {
        const { x, y } = batchTensors(batch, start, end);
        const prefix = this.frozenPrefix;
        const features = prefix ? prefix.frozen.reduce((input, segment) => runSegment(segment, input, true), x as tf.Tensor) : x;
        const forward = () =>
          prefix
            ? prefix.rest.reduce((input, segment) => runSegment(segment, input, true), features)
            : this.model.apply(x, { training: true });
        // Summed (not mean) loss, so chunks and batches of any size add up to the gradient of the window's total.
        const lossOf = () => {
          const probabilities = forward() as tf.Tensor2D;
          correct = tf.keep(correctCount(probabilities, y));
          return tf.mul(crossEntropy(probabilities, y, labelSmoothing), end - start) as tf.Scalar;
        };
        const result = tf.variableGrads(lossOf, this.variables);
        return { value: result.value, grads: this.variables.map((variable) => result.grads[variable.name]), correct: correct! };
      });
    } catch (error) {
      correct?.dispose(); // kept out of the tape's scope; an out-of-memory error in the backward pass would leak it
      throw error;
    }
  }

  private recomputedChunk(batch: Batch, start: number, end: number): ChunkGradients {
    const { labelSmoothing = 0 } = this.options;
    const { x, y } = batchTensors(batch, start, end);
    let correct: tf.Scalar | undefined;
    try {
      const lossOf = (probabilities: tf.Tensor) => {
        correct = tf.keep(correctCount(probabilities as tf.Tensor2D, y));
        return tf.mul(crossEntropy(probabilities as tf.Tensor2D, y, labelSmoothing), end - start) as tf.Scalar;
      };
      const { loss, gradients } = recomputedGradients(this.segments!, x, lossOf, this.maskSeed(start));
      const grads = this.variables.map((variable) => gradients.get(variable.name) ?? tf.zerosLike(variable));
      return { value: loss, grads, correct: correct! };
    } catch (error) {
      correct?.dispose();
      throw error;
    } finally {
      tf.dispose([x, y]);
    }
  }

  private applyUpdate(learningRate: number): void {
    const { l1 = 0, l2 = 0 } = this.options;
    this.training.setLearningRate(learningRate);
    const scale = 1 / this.samplesInWindow;
    // Without a penalty the optimizer scales and zeroes the accumulators itself (on webgpu inside its dispatches).
    if (!l1 && !l2) {
      this.training.applyAccumulated(this.accumulators, scale, this.variables);
      for (const accumulator of this.accumulators) this.zeroAccumulators.add(accumulator);
    } else {
      tf.tidy(() => {
        const gradients: tf.NamedTensorMap = {};
        const penalty = tf.variableGrads(() => regularizationPenalty(this.variables, l1, l2) ?? tf.scalar(0), this.variables).grads;
        this.variables.forEach((variable, i) => {
          const mean = tf.mul(this.accumulators[i], scale);
          gradients[variable.name] = penalty[variable.name] ? tf.add(mean, penalty[variable.name]) : mean;
        });
        this.training.apply(gradients, this.variables);
      });
    }
    this.resetWindow();
    this.optimizerStep++;
  }

  /** Zeroes the accumulators and the window's loss, count and position (after an update; a worker after each collect). */
  resetWindow(): void {
    for (const accumulator of this.accumulators) {
      if (!this.zeroAccumulators.has(accumulator)) zeroVariable(accumulator);
      this.zeroAccumulators.add(accumulator);
    }
    tf.tidy(() => {
      this.windowLoss.assign(tf.scalar(0));
      this.windowCorrect.assign(tf.scalar(0));
    });
    this.batchesInWindow = 0;
    this.samplesInWindow = 0;
  }

  /** Copies the accumulated gradients into `target` (flat, in the order of the trainable weights): a worker's collect. */
  async copyWindow(target: Float32Array): Promise<{ lossSum: number; correct: number }> {
    let offset = 0;
    for (const accumulator of this.accumulators) {
      readTensor(accumulator, target, offset);
      offset += accumulator.size;
    }
    const [lossSum, correct] = await this.readWindow();
    return { lossSum, correct };
  }

  /** Host copies of the accumulators, window position and loss, for checkpoints (read asynchronously). */
  async accumulatorState(): Promise<AccumulatorState> {
    // With workers, the window's micro-batches so far are summed here first (a checkpoint inside a window).
    if (this.workerPool && this.batchesInWindow > 0) await this.collectFromWorkers(this.workerPool);
    const values = (await Promise.all(this.accumulators.map((accumulator) => accumulator.data()))) as Float32Array[];
    const [lossSum, correct] = await this.readWindow();
    return { values, batchesInWindow: this.batchesInWindow, samplesInWindow: this.samplesInWindow, lossSum, correct };
  }

  restoreAccumulators(state: AccumulatorState): void {
    tf.tidy(() => {
      this.accumulators.forEach((accumulator, i) => accumulator.assign(tf.tensor(state.values[i], accumulator.shape)));
      this.zeroAccumulators.clear();
      this.windowLoss.assign(tf.scalar(state.lossSum));
      this.windowCorrect.assign(tf.scalar(state.correct));
    });
    this.batchesInWindow = state.batchesInWindow;
    this.samplesInWindow = state.samplesInWindow;
  }

  dispose(): void {
    void this.workerPool?.close();
    tf.dispose([...this.accumulators, this.windowLoss, this.windowCorrect]);
    this.training.optimizer.dispose();
  }
}

/** The loss of an optimizer update is NaN or infinite: the run stops before the update reaches the weights. */
export class NonFiniteLoss extends StreamfitError {
  constructor(readonly loss: number) {
    super(`loss is ${loss}: training diverged (lower the learning rate)`);
  }
}
