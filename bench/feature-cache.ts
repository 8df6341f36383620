// Benchmark: a head-only trial on cached backbone features against the same trial run through the whole pipeline, in one run.
// The "pretrained" backbone is one the code saves itself (no weights can be downloaded); the costs do not depend on its values.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend } from '../src/backend/ladder.ts';
import { createModel } from '../src/models/create-model.ts';
import { saveModel } from '../src/models/weights-io.ts';

export interface CacheBenchOptions {
  data: string;
  imageSize: number;
  epochs: number;
}

export async function benchFeatureCache(options: CacheBenchOptions): Promise<Record<string, unknown>> {
  const folder = mkdtempSync(join(tmpdir(), 'streamfit-cache-bench-'));
  try {
    await selectBackend('wasm');
    const { model } = await createModel('efficientnet-b0', { classes: 2, imageSize: options.imageSize });
    await saveModel(model, join(folder, 'weights'));
    model.dispose();
    writeFileSync(join(folder, 'cache-on.json'), JSON.stringify({ featureCache: true }));
    const cli = fileURLToPath(new URL('../bin/streamfit.js', import.meta.url));
    const trial = (name: string, cached: boolean) => {
      const args = [
        cli,
        'train',
        '--data',
        options.data,
        '--model',
        'efficientnet-b0',
        '--image-size',
        String(options.imageSize),
        '--weights',
        join(folder, 'weights'),
        '--epochs',
        String(options.epochs),
        '--backend',
        'wasm',
        '--out',
        join(folder, 'runs', name),
        '--json',
      ];
      if (cached) args.push('--overrides', join(folder, 'cache-on.json'));
      const start = performance.now();
      const output = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 2 ** 24 });
      const seconds = (performance.now() - start) / 1000;
      return { seconds: Number(seconds.toFixed(2)), featureCache: JSON.parse(output.trim().split('\n').pop()!).featureCache ?? 'off' };
    };
    const uncached = trial('uncached', false);
    const miss = trial('first-cached', true);
    const hit = trial('second-cached', true);
    return {
      bench: 'feature-cache',
      imageSize: options.imageSize,
      epochs: options.epochs,
      uncached,
      miss,
      hit,
      hitOverUncached: Number((hit.seconds / uncached.seconds).toFixed(3)),
    };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
