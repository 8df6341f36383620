// Starts tfjs' webgpu backend on the adapter Dawn found, with a device that has the adapter's own limits, and registers
// streamfit's WGSL training kernels on it.
/// <reference types="@webgpu/types" />

import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
// A JSON import, not require(): a bundle of the CLI carries it, where node_modules holds only the webgpu package.
import backendPackage from '@tensorflow/tfjs-backend-webgpu/package.json' with { type: 'json' };
import { registerWebgpuTrainingKernels } from '../kernels/register.ts';
import { type AdapterDescription, findAdapter } from './webgpu-adapter.ts';
import { recordWithCaches } from './webgpu-cached-record.ts';
import { watchDevice } from './webgpu-health.ts';
import { submitWhenFreedBytesPending } from './webgpu-memory.ts';
import { uploadWithWriteBuffer } from './webgpu-upload.ts';

export interface WebgpuStarted {
  /** tfjs-backend-webgpu's version. */
  version: string;
  adapter: AdapterDescription & {
    /** The `webgpu` package (Dawn's Node bindings) that drives it. */
    dawn: string;
    /** The limits the device got (the adapter's, where tfjs' defaults would cap buffers at 128 MiB and 256 MiB). */
    deviceLimits: Record<string, number>;
  };
}

const require = createRequire(import.meta.url);
let started: WebgpuStarted | undefined;
export const webgpuBackendVersion = backendPackage.version;
// The limits a training step needs above WebGPU's defaults: B7 at 600 px has layer outputs over 128 MiB.
const raisedLimits = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
] as const;

/**
 * Finds the adapter and makes 'webgpu' the tfjs backend. A software adapter (llvmpipe and the like) is refused unless
 * `allowSoftware`: the ladder passes it only when webgpu was asked for by name.
 */
export async function startWebgpu(allowSoftware: boolean): Promise<WebgpuStarted> {
  // Started once per process: a second start would dispose the device and every tensor on it.
  if (started && tf.findBackend('webgpu')) {
    if (started.adapter.software && !allowSoftware) throw new Error(softwareRefusal(started.adapter));
    if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend did not start again');
    return started;
  }
  const found = await findAdapter({ openGl: allowSoftware });
  const { description } = found;
  if (description.software && !allowSoftware) {
    throw new Error(softwareRefusal(description));
  }
  // tfjs-backend-webgpu registers itself only if navigator.gpu exists when it is imported. Node ≥ 21 has a navigator
  // getter on globalThis, so the property is defined on whichever navigator object there is.
  const navigatorObject = (globalThis as { navigator?: object }).navigator;
  if (navigatorObject) Object.defineProperty(navigatorObject, 'gpu', { value: found.gpu, configurable: true, writable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu: found.gpu }, configurable: true, writable: true });
  const webgpu = await import('@tensorflow/tfjs-backend-webgpu');

  let deviceLimits: Record<string, number> = {};
  // Replaces tfjs' own factory, which asks for an adapter without the compatibility level (so never finds an OpenGL ES
  // one) and for fewer limits.
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', async () => {
    const adapterLimits = found.adapter.limits as unknown as Record<string, number>;
    const requiredLimits: Record<string, number> = {};
    for (const name of raisedLimits) if (typeof adapterLimits[name] === 'number') requiredLimits[name] = adapterLimits[name];
    const requiredFeatures = (['timestamp-query'] as GPUFeatureName[]).filter((name) => found.adapter.features.has(name));
    const device = await found.adapter.requestDevice({ requiredFeatures, requiredLimits });
    watchDevice(device);
    deviceLimits = Object.fromEntries(raisedLimits.map((name) => [name, (device.limits as unknown as Record<string, number>)[name]]));
    const backend = new webgpu.WebGPUBackend(device, found.adapter.info);
    uploadWithWriteBuffer(backend);
    submitWhenFreedBytesPending(backend);
    recordWithCaches(backend);
    return backend;
  });
  if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend did not start (requestDevice failed)');
  registerWebgpuTrainingKernels();
  const dawn = (require('webgpu/package.json') as { version: string }).version;
  const limits = deviceLimits;
  process.stderr.write(
    `webgpu: ${description.description || description.device} (${description.vendor}, ${description.api}${description.software ? ', software' : ''}); device limits maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}, maxBufferSize ${limits.maxBufferSize}\n`,
  );
  started = {
    version: webgpuBackendVersion,
    adapter: { ...description, dawn, deviceLimits },
  };
  return started;
}

function softwareRefusal(adapter: AdapterDescription): string {
  return `the only adapter is a software one (${adapter.description || adapter.device}); it is used only when asked for with --backend webgpu`;
}
