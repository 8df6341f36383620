// Finds a WebGPU adapter through Dawn's Node bindings (the optional `webgpu` package) and describes it: vendor, kind, limits.
/// <reference types="@webgpu/types" />

import { createRequire } from 'node:module';

/** What `streamfit backends` and every webgpu run report about the adapter. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The WebGPU fallback flag (a software implementation, as the adapter says of itself). */
  fallback: boolean;
  /** A CPU rasteriser (fallback flag, or llvmpipe, lavapipe, SwiftShader, softpipe by name): chosen only when asked for. */
  software: boolean;
  /** The native API Dawn drives: 'vulkan', or 'opengles' (Dawn's compatibility mode, for machines without a Vulkan driver). */
  api: 'vulkan' | 'opengles' | 'default';
  limits: Record<string, number>;
  features: string[];
}

export interface FoundAdapter {
  adapter: GPUAdapter;
  description: AdapterDescription;
  /** The entry point that found it: becomes `navigator.gpu` for tfjs. */
  gpu: GPU;
  /** The globals of Dawn's bindings (GPUBuffer, GPUBufferUsage, …), which tfjs reads as globals. */
  globals: Record<string, unknown>;
}

interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

const require = createRequire(import.meta.url);
const softwareNames = /llvmpipe|lavapipe|swiftshader|softpipe/i;
let dawn: DawnModule | undefined;

/** Loads dawn.node once. The message says why not: the package is missing, or has no build for this platform. */
export async function loadDawn(): Promise<DawnModule> {
  if (dawn) return dawn;
  let packageFile: string;
  try {
    packageFile = require.resolve('webgpu/package.json');
  } catch {
    throw new Error('the optional package `webgpu` (Dawn) is not installed: run `npm ci` (or `npm install webgpu@0.6.2`)');
  }
  const platform = process.platform === 'darwin' ? 'darwin-universal' : `${process.platform}-${process.arch}`;
  try {
    dawn = (await import('webgpu')) as unknown as DawnModule;
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    throw new Error(`dawn.node did not load for ${platform} (${reason}); package at ${packageFile.replace(/\/package\.json$/, '')}`);
  }
  return dawn;
}

/**
 * The best adapter Dawn finds: Vulkan (or the platform's own API) first, then OpenGL ES in compatibility mode, which
 * covers machines whose only driver is Mesa's llvmpipe. Throws with the reason when there is none.
 */
export async function findAdapter(): Promise<FoundAdapter> {
  const { create, globals } = await loadDawn();
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter) return { adapter, gpu, globals, description: describeAdapter(adapter, process.platform === 'linux' ? 'vulkan' : 'default') };
  // EGL needs a platform without a display server; Mesa reads this when Dawn opens EGL, so setting it here is enough.
  process.env.EGL_PLATFORM ??= 'surfaceless';
  const glGpu = create(['backend=opengles']);
  const glAdapter = await glGpu.requestAdapter({
    featureLevel: 'compatibility',
    powerPreference: 'high-performance',
  } as GPURequestAdapterOptions);
  if (glAdapter) return { adapter: glAdapter, gpu: glGpu, globals, description: describeAdapter(glAdapter, 'opengles') };
  throw new Error(
    'no WebGPU adapter: Dawn found no Vulkan driver (libvulkan1 and a GPU driver such as the NVIDIA one, or Mesa) and no OpenGL ES one (libegl1 with libegl-mesa0); `make webgpu-sim` installs a software one',
  );
}

export function describeAdapter(adapter: GPUAdapter, api: AdapterDescription['api']): AdapterDescription {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const fallback = Boolean(info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter);
  const named = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    fallback,
    software: fallback || info.architecture === 'software' || softwareNames.test(named),
    api,
    limits: readLimits(adapter.limits),
    features: [...adapter.features].map(String).sort(),
  };
}

/** GPUSupportedLimits keeps its values behind prototype getters, so JSON.stringify and Object.keys see nothing. */
function readLimits(limits: GPUSupportedLimits): Record<string, number> {
  const result: Record<string, number> = {};
  const names = new Set<string>();
  for (let object = limits as object; object && object !== Object.prototype; object = Object.getPrototypeOf(object)) {
    for (const name of Object.getOwnPropertyNames(object)) names.add(name);
  }
  for (const name of [...names].sort()) {
    const value = (limits as unknown as Record<string, unknown>)[name];
    if (typeof value === 'number') result[name] = value;
  }
  return result;
}
