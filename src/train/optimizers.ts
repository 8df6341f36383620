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
}

export function createOptimizer(config: OptimizerConfig): TrainingOptimizer {
  let rate = config.lr;
  const optimizer = build(config);
  const weightDecay = config.name === 'adamw' ? (config.weightDecay ?? 0.01) : 0;
  return {
    optimizer,
    setLearningRate(next: number) {
      rate = next;
      const settable = optimizer as unknown as { learningRate: number; setLearningRate?: (rate: number) => void };
      if (settable.setLearningRate) settable.setLearningRate(next);
      settable.learningRate = next;
    },
    apply(gradients, variables) {
      // On wasm: one compiled call for the update and the decay of every variable, with tfjs' formulas.
      const decay = weightDecay > 0 ? { factor: 1 - rate * weightDecay, appliesTo: (name: string) => /kernel/.test(name) } : undefined;
      if (fusedUpdate(optimizer, gradients, decay)) return;
      optimizer.applyGradients(gradients);
      if (weightDecay > 0) {
        tf.tidy(() => {
          for (const variable of variables) if (/kernel/.test(variable.name)) variable.assign(tf.mul(variable, 1 - rate * weightDecay));
        });
      }
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
