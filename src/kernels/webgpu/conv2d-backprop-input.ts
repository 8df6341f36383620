// Conv2DBackpropInput for webgpu: dx[p = (n, h, w), ci] = Σ over taps (i, j) and co of dy[n, (h + top − i)/s, (w + left − j)/s, co]·W[i, j, ci, co],
// a matrix product (pixels × Cin, summed over taps × Cout) in 16×16-thread workgroups that keep a 64-pixel tile of dx in
// registers and stage dy and W in workgroup memory. A 1×1, stride-1 convolution is tfjs' own matMul(dy, Wᵀ). tfjs
// 4.22 runs a naive shader here by default (one thread per dx element, reading W once per thread and output channel).

import * as tf from '@tensorflow/tfjs';
import { convolutionAttributes, convolutionInfo } from '../convolution-attributes.ts';
import { asTensor, kernelResult } from '../ops-as-kernel.ts';
import { registersFor } from './conv2d-backprop-filter.ts';
import { geometryUniforms, maxWorkgroupsPerDimension, program, run } from './program.ts';

const threads = 16;
const depth = 16;
const pixelRegisters = 4;
const tileM = threads * pixelRegisters;
/** Up to this many input channels (an RGB stem), a tile of 16 channels would be mostly idle: one thread per dx element. */
const fewChannels = 4;

export const conv2dBackpropInputWebgpuConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const attributes = convolutionAttributes(attrs);
    const { dataFormat, inputShape } = attributes;
    if (dataFormat === 'NCHW') throw new Error('Conv2DBackpropInput on webgpu supports NHWC only');
    const dy = inputs.dy as tf.TensorInfo;
    const filter = inputs.filter as tf.TensorInfo;
    const filterShape = filter.shape as [number, number, number, number];
    const info = convolutionInfo(inputShape, filterShape, attributes, 'conv');
    const [filterHeight, filterWidth, inChannels, outChannels] = filterShape;
    const pointwise =
      filterHeight === 1 &&
      filterWidth === 1 &&
      info.strideHeight === 1 &&
      info.strideWidth === 1 &&
      info.padInfo.top === 0 &&
      info.padInfo.left === 0;
    if (pointwise) return pointwiseInputGradient(backend, dy, filter, inputShape);
    if (inChannels <= fewChannels) return directInputGradient(backend, dy, filter, info, inputShape);
    const pixels = info.batchSize * info.inHeight * info.inWidth;
    const registersN = registersFor(inChannels);
    const pixelTiles = Math.ceil(pixels / tileM);
    const built = program({
      key: `conv2d_input_grad_${registersN}`,
      outputShape: inputShape,
      inputs: ['dy', 'W'],
      uniforms: {
        ...geometryUniforms(info),
        pixels,
        inChannels,
        outChannels,
        filterWidth,
        taps: filterHeight * filterWidth,
        pixelTilesPerRow: Math.min(pixelTiles, maxWorkgroupsPerDimension),
      },
      workgroupSize: [threads, threads, 1],
      dispatch: [
        Math.ceil(inChannels / (threads * registersN)),
        Math.min(pixelTiles, maxWorkgroupsPerDimension),
        Math.ceil(pixelTiles / maxWorkgroupsPerDimension),
      ],
      code: shader(registersN),
    });
    return run(backend, built, [dy, filter]);
  },
};

/** dx = dy · Wᵀ over rows of pixels: tfjs' matMul, whose tiled shaders suit this shape. */
function pointwiseInputGradient(backend: unknown, dyInfo: tf.TensorInfo, filterInfo: tf.TensorInfo, inputShape: number[]): tf.TensorInfo {
  return kernelResult(backend, () => {
    const [, , inChannels, outChannels] = filterInfo.shape;
    const dy = tf.reshape(asTensor(dyInfo, backend), [-1, outChannels]);
    const filter = tf.reshape(asTensor(filterInfo, backend), [inChannels, outChannels]);
    return tf.reshape(tf.matMul(dy, filter, false, true), inputShape);
  });
}

/** One thread per dx element, visiting only the taps the stride lets reach it; a strided grid covers any size. */
function directInputGradient(
  backend: unknown,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  inputShape: number[],
): tf.TensorInfo {
  const elements = inputShape.reduce((a, b) => a * b, 1);
  const built = program({
    key: 'conv2d_input_grad_direct',
    outputShape: inputShape,
    inputs: ['dy', 'W'],
    uniforms: {
      ...geometryUniforms(info),
      elements,
      inChannels: info.inChannels,
      outChannels: info.outChannels,
      filterHeight: info.filterHeight,
      filterWidth: info.filterWidth,
    },
    workgroupSize: [256, 1, 1],
    dispatch: [Math.min(Math.ceil(elements / 256), maxWorkgroupsPerDimension), 1, 1],
    code: `
      fn main() {
        let stride = i32(numWorkgroups.x) * 256;
        for (var index = i32(workgroupId.x) * 256 + i32(localIndex); index < uniforms.elements; index += stride) {
          let c = index % uniforms.inChannels;
          var rest = index / uniforms.inChannels;
          let w = rest % uniforms.inWidth;
          rest = rest / uniforms.inWidth;
          let h = rest % uniforms.inHeight;
          let n = rest / uniforms.inHeight;
          let hh = h + uniforms.padTop;
          let ww = w + uniforms.padLeft;
          var sum = 0.0;
          for (var i = hh % uniforms.strideHeight; i < uniforms.filterHeight && i <= hh; i += uniforms.strideHeight) {
            let oh = (hh - i) / uniforms.strideHeight;
            if (oh >= uniforms.outHeight) {
              continue;
            }
            for (var j = ww % uniforms.strideWidth; j < uniforms.filterWidth && j <= ww; j += uniforms.strideWidth) {
              let ow = (ww - j) / uniforms.strideWidth;
              if (ow < uniforms.outWidth) {
                let dyBase = ((n * uniforms.outHeight + oh) * uniforms.outWidth + ow) * uniforms.outChannels;
                let wBase = ((i * uniforms.filterWidth + j) * uniforms.inChannels + c) * uniforms.outChannels;
                for (var co = 0; co < uniforms.outChannels; co++) {
                  sum = fma(dy[dyBase + co], W[wBase + co], sum);
                }
              }
            }
          }
          result[index] = sum;
        }
      }`,
  });
  return run(backend, built, [dy, filter]);
}

function shader(registersN: number): string {
  const tileN = threads * registersN;
  return `
    var<workgroup> dyTile: array<f32, ${depth * tileM}>;
    var<workgroup> wTile: array<f32, ${depth * tileN}>;

    fn main() {
      let tx = i32(localId.x);
      let ty = i32(localId.y);
      let flat = i32(localIndex);
      let firstIn = i32(workgroupId.x) * ${tileN};
      let firstPixel = (i32(workgroupId.z) * uniforms.pixelTilesPerRow + i32(workgroupId.y)) * ${tileM};
      var sums: array<array<f32, ${registersN}>, ${pixelRegisters}>;
      // Trip counts from uniforms only, so the barriers stay in uniform control flow.
      for (var tap = 0; tap < uniforms.taps; tap++) {
        let tapRow = tap / uniforms.filterWidth;
        let tapColumn = tap % uniforms.filterWidth;
        for (var firstOut = 0; firstOut < uniforms.outChannels; firstOut += ${depth}) {
          for (var load = 0; load < ${pixelRegisters}; load++) {
            let e = flat + load * ${threads * threads};
            let pixel = firstPixel + e / ${depth};
            let outChannel = firstOut + e % ${depth};
            var value = 0.0;
            if (pixel < uniforms.pixels && outChannel < uniforms.outChannels) {
              let w = pixel % uniforms.inWidth;
              let rest = pixel / uniforms.inWidth;
              let h = rest % uniforms.inHeight;
              let n = rest / uniforms.inHeight;
              let hh = h + uniforms.padTop - tapRow;
              let ww = w + uniforms.padLeft - tapColumn;
              if (hh >= 0 && ww >= 0 && hh % uniforms.strideHeight == 0 && ww % uniforms.strideWidth == 0) {
                let oh = hh / uniforms.strideHeight;
                let ow = ww / uniforms.strideWidth;
                if (oh < uniforms.outHeight && ow < uniforms.outWidth) {
                  value = dy[((n * uniforms.outHeight + oh) * uniforms.outWidth + ow) * uniforms.outChannels + outChannel];
                }
              }
            }
            dyTile[(e % ${depth}) * ${tileM} + e / ${depth}] = value;
          }
          for (var load = 0; load < ${registersN}; load++) {
            let e = flat + load * ${threads * threads};
            let inChannel = firstIn + e / ${depth};
            let outChannel = firstOut + e % ${depth};
            var value = 0.0;
            if (inChannel < uniforms.inChannels && outChannel < uniforms.outChannels) {
              value = W[(tap * uniforms.inChannels + inChannel) * uniforms.outChannels + outChannel];
            }
            wTile[(e % ${depth}) * ${tileN} + e / ${depth}] = value;
          }
          workgroupBarrier();
          for (var k = 0; k < ${depth}; k++) {
            var a: array<f32, ${pixelRegisters}>;
            for (var i = 0; i < ${pixelRegisters}; i++) {
              a[i] = dyTile[k * ${tileM} + ty + i * ${threads}];
            }
            for (var j = 0; j < ${registersN}; j++) {
              let b = wTile[k * ${tileN} + tx + j * ${threads}];
              for (var i = 0; i < ${pixelRegisters}; i++) {
                sums[i][j] = fma(a[i], b, sums[i][j]);
              }
            }
          }
          workgroupBarrier();
        }
      }
      for (var i = 0; i < ${pixelRegisters}; i++) {
        let pixel = firstPixel + ty + i * ${threads};
        for (var j = 0; j < ${registersN}; j++) {
          let inChannel = firstIn + tx + j * ${threads};
          if (pixel < uniforms.pixels && inChannel < uniforms.inChannels) {
            result[pixel * uniforms.inChannels + inChannel] = sums[i][j];
          }
        }
      }
    }`;
}
