// Optimizer updates with seeded gradients on one backend, recorded step by step: what the fused updates (wasm, webgpu) are
// compared with tfjs' own optimizers on the cpu backend by.

import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend/ladder.ts';
import { seededRandom } from '../../src/math/random.ts';
import { createOptimizer, type OptimizerConfig } from '../../src/train/optimizers.ts';

/** Every optimizer the fused updates implement. */
export const optimizerConfigs: OptimizerConfig[] = [
  { name: 'adam', lr: 0.01 },
  { name: 'adamw', lr: 0.01, weightDecay: 0.1 },
  { name: 'sgd', lr: 0.1 },
  { name: 'sgd', lr: 0.1, momentum: 0.9 },
  { name: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true },
  { name: 'rmsprop', lr: 0.01 },
  { name: 'rmsprop', lr: 0.01, momentum: 0.9 },
];

export function randomArray(length: number, seed: string, scale = 1): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length }, () => (random() * 2 - 1) * scale);
}

export interface Trajectory {
  /** Variable values after each step, by name. */
  values: Record<string, Float32Array>[];
  /** The optimizer's getWeights() at the end: slot names and values. */
  weights: { name: string; values: Float32Array }[];
  tensorsAfterFirstStep: number;
  tensorsAtEnd: number;
}

/**
 * `steps` updates of variables of the given shapes through createOptimizer, with seeded gradients; the learning rate
 * changes at step 3. Values are read asynchronously after every step (on webgpu a read caches them on the host, and the
 * next in-place update must not be hidden by that copy).
 */
export async function optimizerTrajectory(
  backend: string,
  config: OptimizerConfig,
  shapes: Record<string, number[]>,
  steps: number,
  prefix: string,
): Promise<Trajectory> {
  await selectBackend(backend);
  const variables = Object.entries(shapes).map(([name, shape]) =>
    tf.variable(tf.tensor(randomArray(tf.util.sizeFromShape(shape), `init ${name}`), shape), true, `${prefix}/${name}`),
  );
  const training = createOptimizer(config);
  const values: Record<string, Float32Array>[] = [];
  let tensorsAfterFirstStep = 0;
  for (let step = 0; step < steps; step++) {
    if (step === 3) training.setLearningRate(config.lr / 3);
    tf.tidy(() => {
      const gradients: tf.NamedTensorMap = {};
      for (const variable of variables) {
        const name = variable.name.split('/').slice(1).join('/');
        gradients[variable.name] = tf.tensor(randomArray(variable.size, `gradient ${name} ${step}`, 0.5), variable.shape);
      }
      training.apply(gradients, variables);
    });
    const read = await Promise.all(variables.map((variable) => variable.data() as Promise<Float32Array>));
    values.push(Object.fromEntries(variables.map((variable, i) => [variable.name.slice(prefix.length + 1), read[i]])));
    if (step === 0) tensorsAfterFirstStep = tf.memory().numTensors;
  }
  const tensorsAtEnd = tf.memory().numTensors;
  const named = await training.optimizer.getWeights();
  const weights = await Promise.all(
    named.map(async ({ name, tensor }) => ({ name: name.replace(prefix, ''), values: (await tensor.data()) as Float32Array })),
  );
  tf.dispose(named.map((weight) => weight.tensor).filter((tensor) => !(tensor instanceof tf.Variable)));
  training.optimizer.dispose();
  tf.dispose(variables);
  return { values, weights, tensorsAfterFirstStep, tensorsAtEnd };
}

/** `steps` updates from accumulated sums (three micro-batches' worth each) through applyAccumulated; the sums after each. */
export async function accumulatedTrajectory(
  backend: string,
  config: OptimizerConfig,
  shapes: Record<string, number[]>,
  steps: number,
  prefix: string,
) {
  await selectBackend(backend);
  const entries = Object.entries(shapes);
  const variables = entries.map(([name, shape]) =>
    tf.variable(tf.tensor(randomArray(tf.util.sizeFromShape(shape), `init ${name}`), shape), true, `${prefix}/${name}`),
  );
  const sums = entries.map(([name, shape]) => tf.variable(tf.zeros(shape), false, `${prefix}/sum/${name}`));
  const training = createOptimizer(config);
  const values: Float32Array[][] = [];
  const sumsAfter: Float32Array[][] = [];
  let tensorsAfterFirstStep = 0;
  for (let step = 0; step < steps; step++) {
    tf.tidy(() => {
      sums.forEach((sum, i) => sum.assign(tf.tensor(randomArray(sum.size, `sum ${entries[i][0]} ${step}`, 1.5), sum.shape)));
    });
    training.applyAccumulated(sums, 1 / 3, variables);
    values.push(await Promise.all(variables.map((variable) => variable.data() as Promise<Float32Array>)));
    sumsAfter.push(await Promise.all(sums.map((sum) => sum.data() as Promise<Float32Array>)));
    if (step === 0) tensorsAfterFirstStep = tf.memory().numTensors;
  }
  const tensorsAtEnd = tf.memory().numTensors;
  training.optimizer.dispose();
  tf.dispose([...variables, ...sums]);
  return { values, sumsAfter, tensorsAfterFirstStep, tensorsAtEnd };
}
