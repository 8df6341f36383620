// Finds a WebGPU adapter through Dawn's Node bindings (the optional `webgpu` package) and describes it: vendor, kind, limits.
/// <reference types="@webgpu/types" />

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

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
 * The best adapter Dawn finds: Vulkan (or the platform's own API) first, then, with `openGl`, OpenGL ES in compatibility
 * mode, which covers machines whose only driver is Mesa's llvmpipe. The automatic ladder leaves OpenGL ES out: Dawn's
 * compatibility path is meant for the software adapter, and asking for it prints Dawn's limit warnings on every start.
 * Throws with the reason when there is none.
 */
export async function findAdapter({ openGl }: { openGl: boolean }): Promise<FoundAdapter> {
  const { create, globals } = await loadDawn();
  Object.assign(globalThis, globals);
  const reasons: string[] = [];
  // Without the Vulkan loader, or with no driver for it to load, Dawn only prints warnings and finds nothing: skip it,
  // and say so.
  const noDriver = "Vulkan: no driver (a GPU driver's ICD, or Mesa's lavapipe ≥ 25)";
  if (process.platform === 'linux' && !vulkanLoaderPresent()) reasons.push('Vulkan: libvulkan.so.1 not found (Debian: libvulkan1)');
  else if (process.platform === 'linux' && !vulkanDriverListed()) reasons.push(`${noDriver}: no ICD file where the loader looks`);
  else {
    const gpu = create([]);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter)
      return { adapter, gpu, globals, description: describeAdapter(adapter, process.platform === 'linux' ? 'vulkan' : 'default') };
    reasons.push(noDriver);
  }
  if (process.platform === 'linux' && !openGl) reasons.push('OpenGL ES: tried only when asked for with --backend webgpu');
  if (process.platform === 'linux' && openGl) {
    // EGL needs a platform without a display server; Mesa reads this when Dawn opens EGL, so setting it here is enough.
    process.env.EGL_PLATFORM ??= 'surfaceless';
    const glGpu = create(['backend=opengles']);
    const options = { featureLevel: 'compatibility', powerPreference: 'high-performance' } as GPURequestAdapterOptions;
    const glAdapter = await glGpu.requestAdapter(options);
    if (glAdapter) return { adapter: glAdapter, gpu: glGpu, globals, description: describeAdapter(glAdapter, 'opengles') };
    reasons.push('OpenGL ES: no EGL driver (Debian: libegl-dev, libegl-mesa0, libgl1-mesa-dri)');
  }
  throw new Error(`no WebGPU adapter: ${reasons.join('; ')}; \`make webgpu-sim\` installs a software one`);
}

/** Whether the dynamic loader can find libvulkan.so.1 (dawn.node opens it at run time): ld.so's cache or LD_LIBRARY_PATH. */
export function vulkanLoaderPresent(): boolean {
  const name = 'libvulkan.so.1';
  const directories = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  if (directories.some((directory) => existsSync(join(directory, name)))) return true;
  try {
    return readFileSync('/etc/ld.so.cache').includes(name);
  } catch {
    return ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'].some((directory) =>
      existsSync(join(directory, name)),
    );
  }
}

/**
 * Whether a Vulkan driver manifest (ICD file) is where the Linux loader looks for one: the files or folders its
 * environment variables name, else vulkan/icd.d under XDG_CONFIG_DIRS, /etc, XDG_DATA_HOME and XDG_DATA_DIRS.
 */
export function vulkanDriverListed(env: NodeJS.ProcessEnv = process.env, exists = existsSync, list = readdirSync): boolean {
  const named = [env.VK_DRIVER_FILES, env.VK_ICD_FILENAMES, env.VK_ADD_DRIVER_FILES].flatMap((value) => value?.split(':') ?? []);
  if (named.some((path) => path && exists(path))) return true;
  const home = env.HOME ?? '';
  const folders = [
    ...(env.XDG_CONFIG_DIRS || '/etc/xdg').split(':'),
    '/etc',
    env.XDG_DATA_HOME || join(home, '.local/share'),
    ...(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':'),
  ];
  return folders.some((folder) => {
    const icd = join(folder, 'vulkan/icd.d');
    try {
      return exists(icd) && list(icd).some((file) => String(file).endsWith('.json'));
    } catch {
      return false;
    }
  });
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
