// Layers EfficientNet needs beyond tfjs' own: BatchNormalization and Dropout that respect freezing, BatchNormalization and
// swish that keep little for the backward pass, and Keras' input Normalization.

import * as tf from '@tensorflow/tfjs';
import { fusesOnWasm } from '../kernels/fuses-on-wasm.ts';
import { updateMovingStatisticsWasm } from '../kernels/moving-statistics.ts';
import type { MovingStatistics } from '../kernels/webgpu/channel-moments.ts';
import { fusesOnWebgpu } from '../kernels/webgpu/elementwise.ts';
import { updateMovingStatisticsWebgpu } from '../kernels/webgpu/moving-statistics.ts';
import { seedOf } from '../math/random.ts';
import { leanBatchNormTraining, leanSwish } from './lean-gradients.ts';

type Kwargs = Record<string, unknown>;
type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];

type LayerClass<Args> = new (args: Args) => tf.layers.Layer;

/**
 * The same layer, run in inference mode whenever it is frozen (trainable = false): a frozen part of the network behaves as
 * when Keras calls a frozen base model with training=False. tfjs' own BatchNormalization would otherwise update its moving
 * statistics and normalize with batch statistics inside a frozen backbone, and Dropout would stay on.
 * Registered under tfjs' own class name, so any tfjs model loaded from disk gets this behaviour too.
 */
function inferenceWhenFrozen<Args>(base: LayerClass<Args>, className: string): LayerClass<Args> {
  const Frozen = class extends (base as new (args: Args) => tf.layers.Layer) {
    static className = className;

    override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
      return super.call(inputs, { ...kwargs, training: Boolean(kwargs.training) && this.trainable });
    }
  };
  tf.serialization.registerClass(Frozen as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>);
  return Frozen;
}

// tfjs exports only the factories of these layers, not their classes.
type BatchNormalizationArgs = Parameters<typeof tf.layers.batchNormalization>[0];
type DropoutArgs = Parameters<typeof tf.layers.dropout>[0];
type ActivationArgs = Parameters<typeof tf.layers.activation>[0];
const classOf = <Args>(layer: tf.layers.Layer) => Object.getPrototypeOf(layer).constructor as LayerClass<Args>;

/** The fields of tfjs' BatchNormalization that its training step reads (they are not in its public types). */
export interface BatchNormalizationFields {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma?: tf.LayerVariable;
  beta?: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

/** Receives a training-mode call's batch mean and variance (per channel) instead of the moving averages (precise BN). */
export type BatchStatisticsSink = (mean: tf.Tensor, variance: tf.Tensor, count: number) => void;

/** The moving averages as variables that a kernel may update in place, with the momentum; undefined if they are not variables. */
export function movingStatisticsOf(fields: BatchNormalizationFields): MovingStatistics | undefined {
  const [mean, variance] = [fields.movingMean.read(), fields.movingVariance.read()];
  return mean instanceof tf.Variable && variance instanceof tf.Variable ? { mean, variance, momentum: fields.momentum } : undefined;
}

/** Moves the moving mean and variance towards a batch's statistics, as tfjs' BatchNormalization does in training. */
export function updateMovingStatistics(fields: BatchNormalizationFields, mean: tf.Tensor, variance: tf.Tensor): void {
  // LayerVariable.read() is the tf.Variable itself (tfjs-layers' variables.ts).
  const [movingMean, movingVariance] = [fields.movingMean.read(), fields.movingVariance.read()];
  if (fusesOnWebgpu(mean, variance) && movingMean instanceof tf.Variable && movingVariance instanceof tf.Variable) {
    // One dispatch, in place, instead of six and two scalar uploads.
    updateMovingStatisticsWebgpu(movingMean, movingVariance, mean, variance, fields.momentum);
    return;
  }
  if (
    fusesOnWasm(mean, variance, movingMean, movingVariance) &&
    movingMean instanceof tf.Variable &&
    movingVariance instanceof tf.Variable &&
    [movingVariance, mean, variance].every((tensor) => tensor.size === movingMean.size)
  ) {
    // One compiled call, in place, instead of six kernel calls; the same float32 numbers.
    updateMovingStatisticsWasm(movingMean, movingVariance, mean, variance, fields.momentum);
    return;
  }
  tf.tidy(() => {
    for (const [variable, batchValue] of [
      [fields.movingMean, mean],
      [fields.movingVariance, variance],
    ] as const) {
      const value = variable.read();
      variable.write(tf.sub(value, tf.mul(tf.sub(value, batchValue), 1 - fields.momentum)));
    }
  });
}

/** tfjs' BatchNormalization, with its training step as one lean op (lean-gradients.ts); the same numbers and updates. */
export const LeanBatchNormalization = class extends (classOf<BatchNormalizationArgs>(tf.layers.batchNormalization({})) as new (
  args: BatchNormalizationArgs,
) => tf.layers.Layer) {
  /** While set, training-mode calls hand their batch statistics here and leave the moving averages alone. */
  statisticsSink?: BatchStatisticsSink;

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const fields = this as unknown as BatchNormalizationFields;
    const lastAxis = fields.axis === -1 || fields.axis === input.rank - 1;
    if (!kwargs.training || !lastAxis || !fields.beta) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      // Without gamma (scale: false, as in InceptionV3) the scale is 1: tfjs' own training path would read the missing gamma
      // and throw. Its gradient is computed and dropped.
      const gamma = fields.gamma ? fields.gamma.read() : tf.onesLike(fields.beta!.read());
      const { output, mean, variance } = leanBatchNormTraining(input, gamma, fields.beta!.read(), fields.epsilon);
      if (this.statisticsSink) this.statisticsSink(mean, variance, input.size / input.shape[input.rank - 1]);
      else updateMovingStatistics(fields, mean, variance);
      tf.dispose([mean, variance]);
      return output;
    });
  }
};

/** Whether a layer is streamfit's BatchNormalization, which can hand its batch statistics to a sink. */
export function collectsBatchStatistics(layer: tf.layers.Layer): layer is tf.layers.Layer & { statisticsSink?: BatchStatisticsSink } {
  return layer instanceof LeanBatchNormalization;
}

export const FineTuneBatchNormalization = inferenceWhenFrozen(
  LeanBatchNormalization as LayerClass<BatchNormalizationArgs>,
  'BatchNormalization',
);
export const FineTuneDropout = inferenceWhenFrozen(classOf<DropoutArgs>(tf.layers.dropout({ rate: 0.5 })), 'Dropout');

/**
 * Seeds the masks of every Dropout layer (dropout and stochastic depth) for the next forward pass: a layer's mask is a
 * function of (seed, layer name), so the same pass run again (a recomputed segment, a resumed run) drops the same units.
 * tfjs' Dropout draws from `seed` when it has one. Returns a function that clears the seeds, so saved models carry none.
 */
export function seedDropoutMasks(layers: readonly tf.layers.Layer[], seed: number): () => void {
  const dropouts = layers.filter((layer) => layer.getClassName() === 'Dropout') as unknown as Array<{ name: string; seed?: number }>;
  for (const layer of dropouts) layer.seed = seedOf(seed, layer.name);
  return () => {
    for (const layer of dropouts) layer.seed = undefined;
  };
}

/** tfjs' Activation layer, with swish as one lean op. Registered under tfjs' class name, like the layers above. */
export class LeanActivation extends (classOf<ActivationArgs>(tf.layers.activation({ activation: 'linear' })) as new (
  args: ActivationArgs,
) => tf.layers.Layer) {
  static className = 'Activation';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const { activation } = this as unknown as { activation: { getClassName(): string } };
    if (activation.getClassName() === 'swish') return leanSwish(Array.isArray(inputs) ? inputs[0] : inputs);
    return super.call(inputs, kwargs);
  }
}
tf.serialization.registerClass(LeanActivation as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>);

/** Keras' Normalization layer: (x − mean) / sqrt(variance), with mean, variance and count stored as (non-trainable) weights. */
export class InputNormalization extends tf.layers.Layer {
  static className = 'Normalization';
  private readonly initialMean: number[];
  private readonly initialVariance: number[];
  private mean?: tf.LayerVariable;
  private variance?: tf.LayerVariable;

  constructor(args: LayerArgs & { mean?: number[]; variance?: number[] }) {
    super(args);
    this.initialMean = args.mean ?? [0.485, 0.456, 0.406];
    this.initialVariance = args.variance ?? [0.229 ** 2, 0.224 ** 2, 0.225 ** 2];
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const channels = (inputShape as number[]).at(-1)!;
    this.mean = this.addWeight('mean', [channels], 'float32', tf.initializers.zeros(), undefined, false);
    this.variance = this.addWeight('variance', [channels], 'float32', tf.initializers.ones(), undefined, false);
    this.addWeight('count', [], 'float32', tf.initializers.zeros(), undefined, false);
    tf.tidy(() => {
      this.mean!.write(tf.tensor1d(this.initialMean.slice(0, channels)));
      this.variance!.write(tf.tensor1d(this.initialVariance.slice(0, channels)));
    });
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const input = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.div(tf.sub(input, this.mean!.read()), tf.sqrt(tf.maximum(this.variance!.read(), 1e-7)));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mean: this.initialMean, variance: this.initialVariance };
  }
}
tf.serialization.registerClass(InputNormalization);
