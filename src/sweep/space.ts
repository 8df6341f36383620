// Search spaces over run-config fields: grid and choice lists, uniform, log-uniform and integer ranges; sampled reproducibly.

import { type } from 'arktype';
import { trainConfigSchema } from '../config/train-config.ts';
import { ConfigError } from '../errors.ts';
import { seededRandom } from '../math/random.ts';

const parameterSchema = type({ grid: 'unknown[] > 0' })
  .or({ choice: 'unknown[] > 0' })
  .or({ uniform: ['number', 'number'] })
  .or({ logUniform: ['number > 0', 'number > 0'] })
  .or({ intUniform: ['number.integer', 'number.integer'] });

export const searchSpaceSchema = type({
  method: "'grid' | 'random'",
  parameters: type.Record('string', parameterSchema),
  'metric?': "'valAccuracy' | 'valLoss'",
}).onUndeclaredKey('reject');

export type SearchSpace = typeof searchSpaceSchema.infer;
export type TrialParams = Record<string, unknown>;

const configFields = new Set(trainFieldNames());

function trainFieldNames(): string[] {
  const json = trainConfigSchema.json as { required?: Array<{ key: string }>; optional?: Array<{ key: string }> };
  return [...(json.required ?? []), ...(json.optional ?? [])].map((entry) => entry.key);
}

/** Validates a search space; every parameter must name a run-config field. */
export function validateSearchSpace(input: unknown): SearchSpace {
  const result = searchSpaceSchema(input);
  if (result instanceof type.errors) {
    const first = result[0];
    throw new ConfigError(`space.${first.path.join('.')}`, first.message);
  }
  for (const [name, parameter] of Object.entries(result.parameters)) {
    if (!configFields.has(name)) throw new ConfigError(`space.parameters.${name}`, `'${name}' is not a run-config field`);
    if (result.method === 'grid' && !('grid' in parameter) && !('choice' in parameter)) {
      throw new ConfigError(`space.parameters.${name}`, 'a grid search needs grid or choice lists for every parameter');
    }
    const range =
      'uniform' in parameter
        ? parameter.uniform
        : 'logUniform' in parameter
          ? parameter.logUniform
          : 'intUniform' in parameter
            ? parameter.intUniform
            : undefined;
    if (range && !(range[0] <= range[1])) throw new ConfigError(`space.parameters.${name}`, `range [${range[0]}, ${range[1]}] is empty`);
  }
  return result;
}

/** The trials of a space: the full grid (cut to `trials` if given), or `trials` random draws seeded by `seed`. */
export function sampleTrials(space: SearchSpace, trials: number, seed: number): TrialParams[] {
  const entries = Object.entries(space.parameters);
  if (space.method === 'grid') {
    let combinations: TrialParams[] = [{}];
    for (const [name, parameter] of entries) {
      const values = 'grid' in parameter ? parameter.grid : (parameter as { choice: unknown[] }).choice;
      combinations = combinations.flatMap((combination) => values.map((value) => ({ ...combination, [name]: value })));
    }
    return combinations.slice(0, trials);
  }
  const random = seededRandom('sweep', seed);
  return Array.from({ length: trials }, () => Object.fromEntries(entries.map(([name, parameter]) => [name, draw(parameter, random)])));
}

function draw(parameter: SearchSpace['parameters'][string], random: () => number): unknown {
  if ('grid' in parameter) return parameter.grid[Math.floor(random() * parameter.grid.length)];
  if ('choice' in parameter) return parameter.choice[Math.floor(random() * parameter.choice.length)];
  if ('uniform' in parameter) return parameter.uniform[0] + random() * (parameter.uniform[1] - parameter.uniform[0]);
  if ('logUniform' in parameter) {
    const [low, high] = parameter.logUniform.map(Math.log);
    return Number(Math.exp(low + random() * (high - low)).toPrecision(4));
  }
  const [low, high] = parameter.intUniform;
  return low + Math.floor(random() * (high - low + 1));
}
