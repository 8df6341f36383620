// How a streamfit WGSL kernel runs on tfjs' webgpu backend: a program object of the shape tfjs' own programs have
// (tfjs-backend-webgpu/src/webgpu_program.ts), run by the backend's runWebGPUProgram, which adds the shared header
// (input and output bindings, the shapes as uniforms, localId/globalId/workgroupId/numWorkgroups) and caches the pipeline.

import type * as tf from '@tensorflow/tfjs';

/** The fields of tfjs' WebGPUProgram that runWebGPUProgram reads. */
export interface WebgpuProgram {
  outputShape: number[];
  /** Names the pipeline in tfjs' cache; must change with anything baked into the WGSL text. */
  shaderKey: string;
  /** tfjs derives getOutputCoords from it; these kernels index by hand, so it only has to keep main() argument-free. */
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableNames: string[];
  /** WGSL struct fields, in the order of the values runProgram is given. */
  uniforms: string;
  size: boolean;
  getUserCode(): string;
}

interface WebgpuBackendLike {
  runWebGPUProgram(program: WebgpuProgram, inputs: tf.TensorInfo[], dtype: 'float32', uniforms: unknown[]): tf.TensorInfo;
  disposeData(dataId: object): boolean;
  device: { limits: { maxComputeWorkgroupsPerDimension: number } };
}

/** Lays out a program whose WGSL reads only localId, localIndex and workgroupId, and takes i32 uniforms. */
export function program(options: {
  key: string;
  outputShape: number[];
  inputs: string[];
  uniforms: Record<string, number>;
  /** f32 uniforms, after the i32 ones. */
  floatUniforms?: Record<string, number>;
  workgroupSize: [number, number, number];
  dispatch: [number, number, number];
  code: string;
}): { program: WebgpuProgram; uniformData: Array<{ type: 'int32' | 'float32'; data: number[] }> } {
  const names = Object.keys(options.uniforms);
  const floats = Object.entries(options.floatUniforms ?? {});
  // tfjs labels pipelines and profiles with the program's class name.
  const Named = programClass(options.key);
  return {
    program: Object.assign(new Named(), {
      outputShape: options.outputShape,
      shaderKey: `streamfit_${options.key}`,
      dispatchLayout: { x: [], y: [0] },
      dispatch: options.dispatch,
      workgroupSize: options.workgroupSize,
      variableNames: options.inputs,
      uniforms: [...names.map((name) => `${name} : i32,`), ...floats.map(([name]) => `${name} : f32,`)].join(' '),
      size: false,
      code: options.code,
    }),
    uniformData: [
      ...names.map((name) => ({ type: 'int32' as const, data: [options.uniforms[name]] })),
      ...floats.map(([, value]) => ({ type: 'float32' as const, data: [value] })),
    ],
  };
}

const programClasses = new Map<string, new () => { getUserCode(): string }>();

function programClass(key: string): new () => { getUserCode(): string } {
  const name = `Streamfit_${key.replace(/_(true|false|\d+)/g, '')}`;
  let named = programClasses.get(name);
  if (!named) {
    // getUserCode on the prototype: a closure a call would cost an allocation (and, bundled, a defineProperty) each run.
    named = {
      [name]: class {
        declare code: string;
        getUserCode(): string {
          return this.code;
        }
      },
    }[name];
    programClasses.set(name, named);
  }
  return named;
}

export function run(backend: unknown, built: ReturnType<typeof program>, inputs: tf.TensorInfo[]): tf.TensorInfo {
  return (backend as WebgpuBackendLike).runWebGPUProgram(built.program, inputs, 'float32', built.uniformData);
}

export function release(backend: unknown, info: tf.TensorInfo): void {
  (backend as WebgpuBackendLike).disposeData(info.dataId);
}

/**
 * WGSL opening a split reduction's main(): a workgroup holds `channelsPerWorkgroup` channels (x) × lanes (y), and
 * workgroup y is the split of the rows it reduces. Declares local, lane, `channel`, split and its rows [start, end) from
 * the uniforms chunk and rows.
 */
export function splitRowsWgsl(channelsPerWorkgroup: number, channel = 'channel'): string {
  return `let local = i32(localId.x);
        let lane = i32(localId.y);
        let ${channel} = i32(workgroupId.x) * ${channelsPerWorkgroup} + local;
        let split = i32(workgroupId.y);
        let start = split * uniforms.chunk;
        let end = min(start + uniforms.chunk, uniforms.rows);`;
}

/** The convolution geometry the gradient kernels index by, as i32 uniforms (input and output sizes, strides, padding). */
export function geometryUniforms(info: tf.backend_util.Conv2DInfo): Record<string, number> {
  return {
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** WebGPU's guaranteed per-dimension dispatch limit. */
export const maxWorkgroupsPerDimension = 65535;

/**
 * How many parts to split a reduction of `rows` terms into, so that `tiles` workgroups per part make about `target`
 * workgroups in all (enough to fill a large GPU), with at least `minimumRows` rows a part, and partial sums under
 * `maximumPartialBytes` for `outputElements` outputs.
 */
export function splitCount(rows: number, tiles: number, outputElements: number, minimumRows = 256, target = 1024): number {
  const maximumPartialBytes = 64 * 2 ** 20;
  const byOccupancy = Math.ceil(target / tiles);
  const byRows = Math.max(1, Math.floor(rows / minimumRows));
  const byMemory = Math.max(1, Math.floor(maximumPartialBytes / (4 * outputElements)));
  return Math.max(1, Math.min(byOccupancy, byRows, byMemory, maxWorkgroupsPerDimension));
}

/**
 * Adds up `splits` partial results laid out one after the other from `offset`, in a fixed order, times `scale`:
 * out[i] = scale · Σ_s partial[offset + s·size + i].
 */
export function sumSplits(
  backend: unknown,
  partial: tf.TensorInfo,
  splits: number,
  outputShape: number[],
  scale = 1,
  offset = 0,
): tf.TensorInfo {
  const size = outputShape.reduce((a, b) => a * b, 1);
  const workgroups = Math.min(Math.ceil(size / 256), 4096);
  const built = program({
    key: 'sum_splits',
    outputShape,
    inputs: ['partial'],
    uniforms: { elements: size, splits, offset },
    floatUniforms: { scale },
    workgroupSize: [256, 1, 1],
    dispatch: [workgroups, 1, 1],
    code: `
      fn main() {
        let stride = i32(numWorkgroups.x) * 256;
        for (var i = i32(workgroupId.x) * 256 + i32(localIndex); i < uniforms.elements; i += stride) {
          var sum = 0.0;
          for (var s = 0; s < uniforms.splits; s++) {
            sum += partial[uniforms.offset + s * uniforms.elements + i];
          }
          result[i] = sum * uniforms.scale;
        }
      }`,
  });
  return run(backend, built, [partial]);
}
