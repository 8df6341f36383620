// One optimizer update over all variables with the compiled kernel (src/kernels/assembly/optimizers.ts) instead of tfjs' 5–10
// kernel calls per variable. It works on the tfjs optimizer's own slot variables (updated in place), created the way tfjs
// creates them, so getWeights / setWeights (checkpoints) and dispose see the same state as after applyGradients. New values
// go to new tensors that the variables are assigned, as tfjs does: tfjs-wasm caches XNNPACK operators, with the weights
// packed into them, by tensor, so a convolution's filter must never change in place. On webgpu the same slots and
// formulas run in WGSL, in place, a few variables a dispatch (src/kernels/webgpu/fused-update.ts).

import * as tf from '@tensorflow/tfjs';
import { addressOf, compiledKernels, makeOutput, withScratch } from './compiled-kernels.ts';
import { fusedUpdateWebgpu, type GradientHandling } from './webgpu/fused-update.ts';

/** AdamW's decoupled weight decay: the variables it applies to are multiplied by `factor` after the step. */
export interface DecoupledDecay {
  factor: number;
  appliesTo(variableName: string): boolean;
}

interface Slot {
  originalName: string;
  variable: tf.Variable;
}

/** The fields of tfjs 4.22's optimizers the update reads and writes (their own names). */
interface OptimizerFields {
  learningRate: number;
  accumulatedFirstMoment: Slot[];
  accumulatedSecondMoment: Slot[];
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  beta1: number;
  beta2: number;
  epsilon: number;
  accumulations: Slot[];
  momentum: number;
  useNesterov: boolean;
  accumulatedMeanSquares: Slot[];
  accumulatedMoments: Slot[];
  decay: number;
  centered: boolean;
  incrementIterations(): void;
}

type Kind = 'adam' | 'momentum' | 'sgd' | 'rmsprop';

/** tfjs' optimizer classes answer `instanceof` for one another (Symbol.hasInstance checks methods), so the class name decides. */
function kindOf(optimizer: tf.Optimizer): Kind | undefined {
  const kinds: Record<string, Kind> = { Adam: 'adam', Momentum: 'momentum', SGD: 'sgd', RMSProp: 'rmsprop' };
  const kind = kinds[optimizer.getClassName()];
  return kind === 'rmsprop' && (optimizer as unknown as OptimizerFields).centered ? undefined : kind;
}

/** The slot lists of each optimizer, with the suffixes tfjs names them by. */
const slotLists: Record<Kind, [keyof OptimizerFields, string][]> = {
  adam: [
    ['accumulatedFirstMoment', 'm'],
    ['accumulatedSecondMoment', 'v'],
  ],
  momentum: [['accumulations', 'momentum']],
  sgd: [],
  rmsprop: [
    ['accumulatedMeanSquares', 'rms'],
    ['accumulatedMoments', 'momentum'],
  ],
};

const entryBytes = 36;

/**
 * Applies `gradients` as `optimizer.applyGradients(gradients)` would (then the decoupled decay, when given), in one call.
 * Returns false, doing nothing, where it does not apply: another backend than wasm or webgpu, an optimizer or option it does not
 * implement (Adagrad, centred RMSprop), or a gradient that is not float32. `handling` scales the gradients first and zeroes
 * them afterwards (the trainer's accumulators) in the same pass, instead of two tfjs kernel calls per variable.
 */
export function fusedUpdate(
  optimizer: tf.Optimizer,
  gradients: tf.NamedTensorMap,
  decay?: DecoupledDecay,
  handling?: GradientHandling,
): boolean {
  const kind = kindOf(optimizer);
  const backendName = tf.getBackend();
  if ((backendName !== 'wasm' && backendName !== 'webgpu') || !kind) return false;
  // Cleared gradients are written in place: they must be variables (accumulators).
  if (handling?.clearGradients && Object.values(gradients).some((gradient) => gradient && !(gradient instanceof tf.Variable))) return false;
  const names = Object.keys(gradients);
  if (names.some((name) => gradients[name] && gradients[name].dtype !== 'float32')) return false;
  const fields = optimizer as unknown as OptimizerFields;
  const backend = tf.backend();
  const variables = tf.engine().registeredVariables;
  // Slots by position in the gradient map, as tfjs keeps them (its getWeights order depends on it).
  for (const [list, suffix] of slotLists[kind]) {
    const slots = fields[list] as Slot[];
    names.forEach((name, i) => {
      slots[i] ??= { originalName: `${name}/${suffix}`, variable: tf.tidy(() => tf.zerosLike(variables[name]).variable(false)) };
    });
  }
  // Positions (in the gradient map) of the variables that have a gradient.
  const updated = names.flatMap((name, i) => (gradients[name] != null ? [i] : []));
  const slotsOf = (i: number) => slotLists[kind].map(([list]) => (fields[list] as Slot[])[i].variable);
  // Slots are written in place: they must not share data with another tensor (setWeights can leave them so).
  for (const i of updated) for (const slot of slotsOf(i)) ownData(slot, backend);
  // Cleared gradients are zeroed in place: they too must hold data of their own.
  const cleared = handling?.clearGradients ? updated.map((i) => gradients[names[i]] as tf.Variable) : [];
  for (const gradient of cleared) ownData(gradient, backend);
  if (backendName === 'webgpu') {
    // In place: the variables and Adam's accumulated betas too must hold data of their own.
    const betas: [tf.Variable, tf.Variable] | undefined = kind === 'adam' ? [fields.accBeta1, fields.accBeta2] : undefined;
    for (const tensor of [...updated.map((i) => variables[names[i]]), ...(betas ?? [])]) ownData(tensor, backend);
    const updates = updated.map((i) => ({
      value: variables[names[i]],
      gradient: gradients[names[i]],
      slots: slotsOf(i),
      factor: decay?.appliesTo(names[i]) ? decay.factor : 1,
    }));
    fusedUpdateWebgpu(kind, fields, updates, betas, handling);
    fields.incrementIterations();
    return true;
  }
  // One kernel call per variable, each into a new tensor that the variable is then assigned (its old data freed): the update
  // holds one variable's worth beyond its inputs, not a second copy of the model, and no tfjs kernel runs.
  const memory = (backend as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;
  withScratch(backend, entryBytes, (entry) => {
    for (const i of updated) {
      const name = names[i];
      const value = tf.engine().makeTensorFromTensorInfo(makeOutput(backend, variables[name].shape));
      try {
        // Views after the allocation, which may have grown (and so detached) the heap.
        const words = new Uint32Array(memory.buffer, entry, entryBytes / 4);
        const floats = new Float32Array(memory.buffer, entry, entryBytes / 4);
        const [first, second] = slotsOf(i);
        words[0] = addressOf(backend, variables[name]);
        words[1] = addressOf(backend, gradients[name]);
        words[2] = first ? addressOf(backend, first) : 0;
        words[3] = second ? addressOf(backend, second) : 0;
        words[4] = addressOf(backend, value);
        words[5] = gradients[name].size;
        floats[6] = decay?.appliesTo(name) ? decay.factor : 1;
        floats[7] = handling?.gradientScale ?? 1;
        words[8] = handling?.clearGradients ? 1 : 0;
        run(kind, fields, backend, entry, 1);
        variables[name].assign(value);
      } finally {
        value.dispose();
      }
    }
  });
  if (kind === 'adam') {
    tf.tidy(() => {
      fields.accBeta1.assign(tf.mul(fields.accBeta1, fields.beta1));
      fields.accBeta2.assign(tf.mul(fields.accBeta2, fields.beta2));
    });
  }
  fields.incrementIterations();
  return true;
}

/** Calls the kernel with tfjs' scalars as float32 (wasm rounds each number argument to float32, as tfjs' scalar tensors do). */
function run(kind: Kind, fields: OptimizerFields, backend: tf.KernelBackend, table: number, count: number): void {
  const kernels = compiledKernels(backend);
  const rate = fields.learningRate;
  if (kind === 'adam') {
    const { beta1, beta2, epsilon } = fields;
    const [accBeta1, accBeta2] = [addressOf(backend, fields.accBeta1), addressOf(backend, fields.accBeta2)];
    kernels.adamUpdate(table, count, beta1, 1 - beta1, beta2, 1 - beta2, accBeta1, accBeta2, epsilon, -rate);
  } else if (kind === 'momentum') kernels.momentumUpdate(table, count, fields.momentum, -rate, fields.useNesterov ? 1 : 0);
  else if (kind === 'sgd') kernels.sgdUpdate(table, count, -rate);
  else kernels.rmspropUpdate(table, count, fields.decay, 1 - fields.decay, fields.momentum, rate, fields.epsilon);
}

/** Gives a slot data of its own before it is written in place (it may share it with a tensor it was assigned from). */
export function ownData(variable: tf.Variable, backend: tf.KernelBackend = tf.backend()): void {
  if ((backend as unknown as { refCount(dataId: tf.DataId): number }).refCount(variable.dataId) <= 1) return;
  const copy = tf.mul(variable, 1);
  variable.assign(copy);
  copy.dispose();
}
