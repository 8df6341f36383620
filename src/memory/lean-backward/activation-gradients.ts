// Closed-form derivatives of tfjs-layers' activation functions, each reading either the activation's input or its output,
// written so that each full-size tensor is freed as soon as the next op has used it: at most four are alive at once.

import * as tf from '@tensorflow/tfjs';
import { swishGradientWasm } from '../../kernels/swish-gradient.ts';
import { fusesOnWebgpu, sigmoidGradientWebgpu, swishGradientWebgpu } from '../../kernels/webgpu/elementwise.ts';
import { after } from './tensor-views.ts';

export interface ActivationGradient {
  /** What the derivative reads: the activation's input, its output, or nothing (identity). */
  reads: 'input' | 'output' | 'nothing';
  /** dy times the derivative at `value` (the input or output, as `reads` says). Takes ownership of both and disposes them. */
  backward(dy: tf.Tensor, value: tf.Tensor | undefined): tf.Tensor;
}

const gradients: Record<string, ActivationGradient> = {
  linear: { reads: 'nothing', backward: (dy) => dy },
  // y > 0 exactly where x > 0, so the output serves as well as the input (tfjs: dy · step(x)).
  relu: {
    reads: 'output',
    backward: (dy, y) => {
      const mask = after([y], () => tf.step(y!));
      return after([dy, mask], () => tf.mul(dy, mask));
    },
  },
  // min(6, relu(x)): tfjs passes the gradient where 0 < x < 6, which is where 0 < y < 6.
  relu6: {
    reads: 'output',
    backward: (dy, y) => {
      const inside = after([y], () => tf.tidy(() => tf.logicalAnd(tf.greater(y!, 0), tf.less(y!, 6))));
      return after([dy, inside], () => tf.tidy(() => tf.where(inside, dy, tf.zerosLike(dy))));
    },
  },
  elu: { reads: 'output', backward: (dy, y) => after([dy, y], () => tf.engine().runKernel('EluGrad', { dy, y: y! }) as tf.Tensor) },
  // σ' = y · (1 − y)
  sigmoid: {
    reads: 'output',
    backward: (dy, y) => {
      if (fusesOnWebgpu(dy, y!)) return after([dy, y], () => sigmoidGradientWebgpu(dy, y!));
      const scaled = tf.mul(dy, y!);
      dy.dispose();
      const complement = after([y], () => tf.sub(1, y!));
      return after([scaled, complement], () => tf.mul(scaled, complement));
    },
  },
  // tanh' = 1 − y²
  tanh: {
    reads: 'output',
    backward: (dy, y) => {
      const square = after([y], () => tf.square(y!));
      const slope = after([square], () => tf.sub(1, square));
      return after([dy, slope], () => tf.mul(dy, slope));
    },
  },
  // Along the last axis: y · (dy − Σ dy·y).
  softmax: {
    reads: 'output',
    backward: (dy, y) => after([dy, y], () => tf.tidy(() => tf.mul(y!, tf.sub(dy, tf.sum(tf.mul(dy, y!), -1, true))))),
  },
  // d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x))), ordered so that x, dy and two more full-size tensors are the most alive at once.
  swish: {
    reads: 'input',
    backward: (dy, x) => {
      if (fusesOnWebgpu(dy, x!)) return after([dy, x], () => swishGradientWebgpu(dy, x!));
      const fused = swishGradientWasm(dy, x!);
      if (fused) return after([dy, x], () => fused);
      const sigmoid = tf.sigmoid(x!);
      const scaled = after([dy], () => tf.mul(dy, sigmoid));
      const complement = after([sigmoid], () => tf.sub(1, sigmoid));
      const product = after([complement, x], () => tf.mul(complement, x!));
      const factor = after([product], () => tf.add(product, 1));
      return after([scaled, factor], () => tf.mul(scaled, factor));
    },
  },
  softplus: {
    reads: 'input',
    backward: (dy, x) => {
      const slope = after([x], () => tf.sigmoid(x!));
      return after([dy, slope], () => tf.mul(dy, slope));
    },
  },
};

export function activationGradient(name: string): ActivationGradient | undefined {
  return gradients[name];
}

/** The tfjs-layers activation object's name ('relu', 'swish', …), or 'linear' when there is none. */
export function activationName(activation: unknown): string {
  const named = activation as { getClassName?: () => string } | null | undefined;
  return named?.getClassName?.() ?? 'linear';
}
