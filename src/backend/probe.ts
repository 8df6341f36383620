// Says which rungs of the backend ladder can start on this machine, and why not where they cannot, without choosing one:
// what `streamfit backends` prints, and what a user on a new GPU box runs first.

import { createRequire } from 'node:module';
import { type BackendName, backendNames } from './ladder.ts';
import type { AdapterDescription } from './webgpu-adapter.ts';

export interface RungReport {
  name: BackendName;
  available: boolean;
  /** Whether the ladder takes it without being asked (a software webgpu adapter is available, but only by name). */
  automatic: boolean;
  /** Why it is not available, or why not automatic. */
  reason?: string;
  version?: string;
  adapter?: AdapterDescription & { dawn: string };
}

export interface LadderReport {
  backends: RungReport[];
  /** The rung the ladder would pick with no --backend. */
  selected: BackendName | undefined;
}

const require = createRequire(import.meta.url);

export async function probeBackends(): Promise<LadderReport> {
  const backends: RungReport[] = [];
  for (const name of backendNames) backends.push(await probe(name));
  return { backends, selected: backends.find((rung) => rung.available && rung.automatic)?.name };
}

async function probe(name: BackendName): Promise<RungReport> {
  try {
    if (name === 'tfjs-node-gpu' || name === 'tfjs-node') return await probeTensorflow(name);
    if (name === 'webgpu') return await probeWebgpu();
    if (name === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      return { name, available: true, automatic: true, version: wasm.version_wasm };
    }
    const tf = await import('@tensorflow/tfjs');
    return { name, available: true, automatic: true, version: tf.version.tfjs };
  } catch (error) {
    return { name, available: false, automatic: false, reason: (error as Error).message.split('\n')[0] };
  }
}

async function probeTensorflow(name: 'tfjs-node-gpu' | 'tfjs-node'): Promise<RungReport> {
  const packageName = `@tensorflow/${name}`;
  let resolved: string;
  try {
    resolved = require.resolve(packageName);
  } catch {
    return { name, available: false, automatic: false, reason: `${packageName} is not installed` };
  }
  const version = (require(`${packageName}/package.json`) as { version: string }).version;
  try {
    await import(resolved);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    // libtensorflow 2.9 (tfjs-node-gpu) links the CUDA 11 runtime and cuDNN 8 by soname.
    const missing = /lib(cudart|cublas|cublasLt|cufft|curand|cusolver|cusparse|cudnn)[^:]*/.exec(message)?.[0];
    const reason = missing
      ? `CUDA runtime not found: ${missing} (libtensorflow 2.9 needs CUDA 11.2 and cuDNN 8.1 beside the driver)`
      : `${packageName} did not load: ${message}`;
    return { name, available: false, automatic: false, reason, version };
  }
  return { name, available: true, automatic: true, version };
}

async function probeWebgpu(): Promise<RungReport> {
  const { findAdapter } = await import('./webgpu-adapter.ts');
  const { description } = await findAdapter({ openGl: true });
  // The ladder takes a hardware adapter by itself only through Vulkan (or the platform's own API), never OpenGL ES.
  const automatic = !description.software && description.api !== 'opengles';
  const dawn = (require('webgpu/package.json') as { version: string }).version;
  const version = (await import('./webgpu-backend.ts')).webgpuBackendVersion;
  return {
    name: 'webgpu',
    available: true,
    automatic,
    ...(automatic
      ? {}
      : {
          reason: description.software
            ? 'a software adapter: used only when asked for with --backend webgpu'
            : 'an OpenGL ES adapter: used only when asked for with --backend webgpu',
        }),
    version,
    adapter: { ...description, dawn },
  };
}
