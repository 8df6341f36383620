// The backend ladder: tfjs-node-gpu → webgpu (a hardware adapter) → tfjs-node → wasm (SIMD) → cpu, first that works, unless
// one is asked for.

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { FlagError } from '../errors.ts';
import { registerWasmTrainingKernels } from '../kernels/register.ts';
import type { WebgpuStarted } from './webgpu-backend.ts';

export const backendNames = ['tfjs-node-gpu', 'webgpu', 'tfjs-node', 'wasm', 'cpu'] as const;
export type BackendName = (typeof backendNames)[number];

export interface BackendInfo {
  name: BackendName;
  /** tfjs' own name for it ('tensorflow', 'wasm', 'cpu'). */
  tfjsBackend: string;
  version: string;
  threads: number;
  simd: boolean;
  /** webgpu only: the adapter, its limits and features, and the limits the device got. */
  adapter?: WebgpuStarted['adapter'];
}

const installHelp: Record<string, string> = {
  'tfjs-node-gpu':
    'install it with `npm install @tensorflow/tfjs-node-gpu@4.22.0` on a Linux x86-64 box with an NVIDIA driver, CUDA 11.2 and cuDNN 8.1 (the versions its libtensorflow 2.9 was built against); its install script downloads libtensorflow',
  webgpu:
    "it installs with `npm ci` (optional packages webgpu and @tensorflow/tfjs-backend-webgpu) and needs a Vulkan driver (libvulkan1 and the GPU's driver) or `make webgpu-sim` for a software one; `streamfit backends` says what is missing",
  'tfjs-node': 'install it with `npm install @tensorflow/tfjs-node@4.22.0`; its install script downloads libtensorflow',
};

const require = createRequire(import.meta.url);
let current: BackendInfo | undefined;

/** Picks and initialises a backend. `requested` comes from --backend or STREAMFIT_BACKEND. */
export async function selectBackend(requested?: string): Promise<BackendInfo> {
  if (requested !== undefined && !backendNames.includes(requested as BackendName)) {
    throw new FlagError('--backend', `unknown backend '${requested}' (expected one of ${backendNames.join(', ')})`);
  }
  if (current && (requested === undefined || requested === current.name)) return current;
  const ladder = requested ? [requested as BackendName] : [...backendNames];
  const failures: string[] = [];
  for (const name of ladder) {
    try {
      current = await initialise(name, requested === name);
      return current;
    } catch (error) {
      failures.push(`${name}: ${(error as Error).message.split('\n')[0]}`);
      if (requested) {
        const help = installHelp[name] ? `; ${installHelp[name]}` : '';
        throw new FlagError('--backend', `backend '${name}' is not available (${(error as Error).message.split('\n')[0]})${help}`);
      }
    }
  }
  throw new Error(`no tfjs backend could start: ${failures.join('; ')}`);
}

async function initialise(name: BackendName, asked: boolean): Promise<BackendInfo> {
  if (name === 'tfjs-node-gpu' || name === 'tfjs-node') {
    const packageName = `@tensorflow/${name}`;
    // Optional peers: resolved at run time so a machine without them never needs them.
    const resolved = require.resolve(packageName);
    await import(resolved);
    if (!(await tf.setBackend('tensorflow'))) throw new Error('tensorflow backend did not start');
    const version = (require(`${packageName}/package.json`) as { version: string }).version;
    return { name, tfjsBackend: 'tensorflow', version, threads: availableParallelism(), simd: true };
  }
  if (name === 'webgpu') {
    // Loaded only here: dawn.node is an optional native module, and most runs never need it.
    const { startWebgpu } = await import('./webgpu-backend.ts');
    const { version, adapter } = await startWebgpu(asked);
    return { name, tfjsBackend: 'webgpu', version, threads: 1, simd: false, adapter };
  }
  if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setThreadsCount(availableParallelism());
    if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend did not start');
    registerWasmTrainingKernels();
    return {
      name,
      tfjsBackend: 'wasm',
      version: wasm.version_wasm,
      threads: wasm.getThreadsCount(),
      simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT') as boolean,
    };
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('cpu backend did not start');
  return { name, tfjsBackend: 'cpu', version: tf.version.tfjs, threads: 1, simd: false };
}

/** The backend asked for by flag, else by STREAMFIT_BACKEND, else undefined (the ladder). */
export function requestedBackend(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  return flag ?? (env.STREAMFIT_BACKEND || undefined);
}
