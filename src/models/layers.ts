// Layers EfficientNet needs beyond tfjs' own: fine-tuning BatchNormalization and Keras' input Normalization.

import * as tf from '@tensorflow/tfjs';

type Kwargs = Record<string, unknown>;
type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];

// tfjs does not export the BatchNormalization class itself, only its factory.
const BatchNormalizationBase = Object.getPrototypeOf(tf.layers.batchNormalization({})).constructor as new (
  args: Parameters<typeof tf.layers.batchNormalization>[0],
) => tf.layers.Layer;

/**
 * BatchNormalization that runs in inference mode whenever it is frozen (trainable = false), as Keras does:
 * tfjs' own layer would update its moving statistics and use batch statistics in a frozen backbone.
 * Registered under the same class name, so any tfjs model loaded from disk gets this behaviour too.
 */
export class FineTuneBatchNormalization extends BatchNormalizationBase {
  static className = 'BatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    return super.call(inputs, { ...kwargs, training: Boolean(kwargs.training) && this.trainable });
  }
}
tf.serialization.registerClass(FineTuneBatchNormalization as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>);

const DropoutBase = Object.getPrototypeOf(tf.layers.dropout({ rate: 0.5 })).constructor as new (
  args: Parameters<typeof tf.layers.dropout>[0],
) => tf.layers.Layer;

/**
 * Dropout that is off in a frozen block: a frozen part of the network runs in inference mode as a whole, as when Keras
 * calls a frozen base model with training=False. Registered under tfjs' own class name, like the BatchNormalization above.
 */
export class FineTuneDropout extends DropoutBase {
  static className = 'Dropout';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    return super.call(inputs, { ...kwargs, training: Boolean(kwargs.training) && this.trainable });
  }
}
tf.serialization.registerClass(FineTuneDropout as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>);

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
