// Optimizers by name (Adam, AdamW, SGD with momentum / Nesterov, RMSprop) with a settable learning rate.

import * as tf from '@tensorflow/tfjs';
import { fusedUpdate } from '../kernels/fused-update.ts';

export interface OptimizerConfig {
  name: 'adam' | 'adamw' | 'sgd' | 'rmsprop';
  lr: number;
  /** SGD and RMSprop momentum. */
  momentum?: number;
  nesterov?: boolean;
  /** AdamW's decoupled weight decay (per step, scaled by the learning rate). */
  weightDecay?: number;
}

export interface TrainingOptimizer {
  optimizer: tf.Optimizer;
  setLearningRate(rate: number): void;
  /** Applies gradients, then (AdamW) the decoupled weight decay on kernels. */
  apply(gradients: tf.NamedTensorMap, variables: tf.Variable[]): void;
  /**
   * Applies the mean gradients `sums[i] · scale` to `variables[i]` and zeroes the sums: the trainer's accumulators. On webgpu
   * the scaling and zeroing happen inside the update's dispatches.
   */
  applyAccumulated(sums: tf.Variable[], scale: number, variables: tf.Variable[]): void;
}

export function createOptimizer(config: OptimizerConfig): TrainingOptimizer {
  let rate = config.lr;
  const optimizer = build(config);
  const weightDecay = config.name === 'adamw' ? (config.weightDecay ?? 0.01) : 0;
  const decayNow = () =>
    weightDecay > 0 ? { factor: 1 - rate * weightDecay, appliesTo: (name: string) => /kernel/.test(name) } : undefined;
  const apply = (gradients: tf.NamedTensorMap, variables: tf.Variable[]) => {
    // On wasm and webgpu: one compiled call, or a few variables a dispatch, for the update and the decay, with tfjs' formulas.
    if (fusedUpdate(optimizer, gradients, decayNow())) return;
    optimizer.applyGradients(gradients);
    if (weightDecay > 0) {
      tf.tidy(() => {
        for (const variable of variables) if (/kernel/.test(variable.name)) variable.assign(tf.mul(variable, 1 - rate * weightDecay));
      });
    }
  };
  return {
    optimizer,
    apply,
    applyAccumulated(sums, scale, variables) {
      const gradients = Object.fromEntries(variables.map((variable, i) => [variable.name, sums[i] as tf.Tensor]));
      if (fusedUpdate(optimizer, gradients, decayNow(), { gradientScale: scale, clearGradients: true })) return;
      tf.tidy(() => apply(Object.fromEntries(variables.map((variable, i) => [variable.name, tf.mul(sums[i], scale)])), variables));
      tf.tidy(() => {
        for (const sum of sums) sum.assign(tf.zerosLike(sum));
      });
    },
    setLearningRate(next: number) {
      rate = next;
      const settable = optimizer as unknown as { learningRate: number; setLearningRate?: (rate: number) => void };
      if (settable.setLearningRate) settable.setLearningRate(next);
      settable.learningRate = next;
    },
  };
}

function build(config: OptimizerConfig): tf.Optimizer {
  switch (config.name) {
    case 'adam':
    case 'adamw':
      return tf.train.adam(config.lr);
    case 'sgd':
      return config.momentum ? tf.train.momentum(config.lr, config.momentum, config.nesterov ?? false) : tf.train.sgd(config.lr);
    case 'rmsprop':
      return tf.train.rmsprop(config.lr, 0.9, config.momentum ?? 0);
  }
}
