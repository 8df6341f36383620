// Backbone features of the un-augmented dataset, computed once and stored on disk under a key of model, weights, resolution,
// preprocessing and data, so every trial that trains only the head reuses them instead of decoding and running the backbone.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Preprocessing } from '../data/preprocessing.ts';
import type { Batch } from '../data/samples.ts';
import { batchTensors } from '../train/batch-tensor.ts';

export interface FeatureSet {
  /** n × width, row-major. */
  features: Float32Array;
  labels: Int32Array;
  width: number;
}

export interface CacheKeyParts {
  model: string;
  weights: string;
  preprocessing: Preprocessing;
  data: string;
  validation: number;
  seed: number;
}

/** A key that changes when any input of the features changes: the weights file's size and time stand for its content. */
export function featureCacheKey(parts: CacheKeyParts, dataSignature: string): string {
  const weightsFile = join(parts.weights, 'weights.bin');
  const weights = existsSync(weightsFile) ? `${statSync(weightsFile).size}:${statSync(weightsFile).mtimeMs}` : parts.weights;
  return createHash('sha256')
    .update(JSON.stringify({ ...parts, weights, dataSignature }))
    .digest('hex')
    .slice(0, 16);
}

/** Pooled backbone features of every batch, in inference mode. */
export async function extractFeatures(backbone: tf.LayersModel, batches: AsyncIterable<Batch>): Promise<FeatureSet> {
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  let width = 0;
  for await (const batch of batches) {
    const pooled = tf.tidy(() => {
      const output = backbone.apply(batchTensors(batch).x, { training: false }) as tf.Tensor;
      return output.rank === 4 ? tf.mean(output, [1, 2]) : output;
    });
    width = pooled.shape[1]!;
    try {
      rows.push((await pooled.data()) as Float32Array);
    } finally {
      pooled.dispose();
    }
    labels.push(...batch.y);
    batch.release?.();
  }
  const features = new Float32Array(rows.reduce((sum, row) => sum + row.length, 0));
  let offset = 0;
  for (const row of rows) {
    features.set(row, offset);
    offset += row.length;
  }
  return { features, labels: Int32Array.from(labels), width };
}

export function readFeatureSet(folder: string, name: string): FeatureSet | undefined {
  const meta = join(folder, `${name}.json`);
  if (!existsSync(meta)) return undefined;
  const { width } = JSON.parse(readFileSync(meta, 'utf8')) as { width: number };
  const features = readFileSync(join(folder, `${name}.features`));
  const labels = readFileSync(join(folder, `${name}.labels`));
  return {
    features: new Float32Array(features.buffer.slice(features.byteOffset, features.byteOffset + features.byteLength)),
    labels: new Int32Array(labels.buffer.slice(labels.byteOffset, labels.byteOffset + labels.byteLength)),
    width,
  };
}

/** Writes the sets into a temporary folder renamed into place: a reader sees all of them or none. */
export function writeFeatureSets(folder: string, sets: Record<string, FeatureSet>): void {
  const temporary = `${folder}.writing-${process.pid}`;
  rmSync(temporary, { recursive: true, force: true });
  mkdirSync(temporary, { recursive: true });
  for (const [name, set] of Object.entries(sets)) {
    writeFileSync(
      join(temporary, `${name}.features`),
      new Uint8Array(set.features.buffer, set.features.byteOffset, set.features.byteLength),
    );
    writeFileSync(join(temporary, `${name}.labels`), new Uint8Array(set.labels.buffer, set.labels.byteOffset, set.labels.byteLength));
    writeFileSync(join(temporary, `${name}.json`), JSON.stringify({ width: set.width, count: set.labels.length }));
  }
  rmSync(folder, { recursive: true, force: true });
  renameSync(temporary, folder);
}

/** Batches of cached features shaped [n, 1, 1, width], shuffled by (seed, epoch) when asked, for the ordinary trainer. */
export async function* featureBatches(set: FeatureSet, batchSize: number, shuffleSeed?: number): AsyncGenerator<Batch> {
  const count = set.labels.length;
  const order = Array.from({ length: count }, (_, i) => i);
  if (shuffleSeed !== undefined) {
    const { seededRandom } = await import('../math/random.ts');
    const random = seededRandom('features', shuffleSeed);
    for (let i = count - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  for (let start = 0; start < count; start += batchSize) {
    const rows = order.slice(start, start + batchSize);
    const x = new Float32Array(rows.length * set.width);
    rows.forEach((row, i) => x.set(set.features.subarray(row * set.width, (row + 1) * set.width), i * set.width));
    const y = Int32Array.from(rows, (row) => set.labels[row]);
    yield { x, y, keys: rows.map(String), shape: [rows.length, 1, 1, set.width], dtype: 'float32', bytes: x.byteLength + y.byteLength };
  }
}
