// Conv2DBackpropFilter for webgpu: dW[i, j, ci, co] = Σ over r = (n, oh, ow) of x[n, oh·s + i − top, ow·s + j − left, ci]·dy[r, co],
// one matrix product per filter tap (Cin × Cout, summed over N·OH·OW rows) in 16×16-thread workgroups that each keep a tile
// of dW in registers. The row sum is split across workgroups (tfjs' own shader runs one thread per dW element, each over
// every row: a few hundred threads on a 1×1 convolution), and the parts are added in a fixed order by a second pass.
// A 1×1 convolution's x can come scaled per sample and channel (squeeze-and-excitation's x·s, which the lean backward
// pass then never rebuilds: src/memory/lean-backward/rules/convolution.ts).

import * as tf from '@tensorflow/tfjs';
import { convolutionAttributes, convolutionInfo, type Shape4 } from '../convolution-attributes.ts';
import { fusesOnWebgpu } from './elementwise.ts';
import { geometryUniforms, program, release, run, splitCount, sumSplits } from './program.ts';

const threads = 16; // a workgroup is threads × threads
const depth = 16; // rows of x and dy staged in workgroup memory per iteration

/** Registers per thread along a channel axis: enough that a tile covers small channel counts without idle threads. */
export function registersFor(channels: number): 1 | 2 | 4 {
  return channels <= threads ? 1 : channels <= 2 * threads ? 2 : 4;
}

export const conv2dBackpropFilterWebgpuConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }) =>
    filterGradient(backend, inputs.x as tf.TensorInfo, inputs.dy as tf.TensorInfo, attrs as tf.NamedAttrMap),
};

/**
 * dW of a 1×1, stride-1 convolution whose input is x·scale, `scale` [N, 1, 1, C] broadcast over x's pixels, without x·scale
 * in memory; `attrs` as Conv2DBackpropFilter takes them. Undefined where the convolution is not such, or off webgpu (the
 * caller multiplies).
 */
export function scaledInputFilterGradientWebgpu(x: tf.Tensor, scale: tf.Tensor, dy: tf.Tensor, attrs: object): tf.Tensor | undefined {
  const { filterShape, strides, pad } = convolutionAttributes(attrs as tf.NamedAttrMap);
  const [batch, , , channels] = x.shape;
  const pointwise =
    filterShape[0] === 1 && filterShape[1] === 1 && [strides].flat().every((stride) => stride === 1) && typeof pad === 'string';
  const fits = pointwise && x.rank === 4 && tf.util.arraysEqual(scale.shape, [batch, 1, 1, channels]);
  if (!fits || !fusesOnWebgpu(x, scale, dy)) return undefined;
  return tf.engine().makeTensorFromTensorInfo(filterGradient(tf.backend(), x, dy, attrs as tf.NamedAttrMap, scale));
}

function filterGradient(
  backend: unknown,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  attrs: tf.NamedAttrMap,
  scale?: tf.TensorInfo,
): tf.TensorInfo {
  const attributes = convolutionAttributes(attrs);
  const { dataFormat, filterShape } = attributes;
  if (dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter on webgpu supports NHWC only');
  const info = convolutionInfo(x.shape as Shape4, filterShape, attributes, 'conv');
  const [filterHeight, filterWidth, inChannels, outChannels] = filterShape;
  const taps = filterHeight * filterWidth;
  const rows = info.batchSize * info.outHeight * info.outWidth;
  const registersM = registersFor(inChannels);
  const registersN = registersFor(outChannels);
  const tileM = threads * registersM;
  const tileN = threads * registersN;
  const tiles = Math.ceil(inChannels / tileM) * Math.ceil(outChannels / tileN) * taps;
  const outputElements = taps * inChannels * outChannels;
  const splits = Math.min(splitCount(rows, tiles, outputElements), Math.floor(65535 / taps));
  const chunk = Math.ceil(Math.ceil(rows / splits) / depth) * depth;
  const pointwise = taps === 1 && info.strideHeight === 1 && info.strideWidth === 1 && info.padInfo.top === 0 && info.padInfo.left === 0;
  if (scale && !pointwise) throw new Error('Conv2DBackpropFilter on webgpu scales the input of 1×1, stride-1 convolutions only');
  const built = program({
    key: `conv2d_filter_grad_${registersM}_${registersN}_${pointwise}${scale ? '_scaled' : ''}`,
    outputShape: splits === 1 ? filterShape : [splits, outputElements],
    inputs: scale ? ['x', 'dy', 'scale'] : ['x', 'dy'],
    uniforms: {
      ...geometryUniforms(info),
      inChannels,
      outChannels,
      filterWidth,
      taps,
      rows,
      chunk,
      pixels: info.inHeight * info.inWidth,
    },
    workgroupSize: [threads, threads, 1],
    dispatch: [Math.ceil(outChannels / tileN), Math.ceil(inChannels / tileM), taps * splits],
    code: shader(registersM, registersN, pointwise, scale !== undefined),
  });
  const partial = run(backend, built, scale ? [x, dy, scale] : [x, dy]);
  if (splits === 1) return partial;
  const summed = sumSplits(backend, partial, splits, filterShape);
  release(backend, partial);
  return summed;
}

function shader(registersM: number, registersN: number, pointwise: boolean, scaled: boolean): string {
  const tileM = threads * registersM;
  const tileN = threads * registersN;
  const readX = scaled
    ? 'value = x[row * uniforms.inChannels + channel] * scale[row / uniforms.pixels * uniforms.inChannels + channel];'
    : pointwise
      ? 'value = x[row * uniforms.inChannels + channel];'
      : `let ow = row % uniforms.outWidth;
          let rest = row / uniforms.outWidth;
          let oh = rest % uniforms.outHeight;
          let n = rest / uniforms.outHeight;
          let h = oh * uniforms.strideHeight + tapRow - uniforms.padTop;
          let w = ow * uniforms.strideWidth + tapColumn - uniforms.padLeft;
          if (h >= 0 && h < uniforms.inHeight && w >= 0 && w < uniforms.inWidth) {
            value = x[((n * uniforms.inHeight + h) * uniforms.inWidth + w) * uniforms.inChannels + channel];
          }`;
  return `
    var<workgroup> xTile: array<f32, ${depth * tileM}>;
    var<workgroup> dyTile: array<f32, ${depth * tileN}>;

    fn main() {
      let tx = i32(localId.x);
      let ty = i32(localId.y);
      let flat = i32(localIndex);
      let firstOut = i32(workgroupId.x) * ${tileN};
      let firstIn = i32(workgroupId.y) * ${tileM};
      let tap = i32(workgroupId.z) % uniforms.taps;
      let split = i32(workgroupId.z) / uniforms.taps;
      let tapRow = tap / uniforms.filterWidth;
      let tapColumn = tap % uniforms.filterWidth;
      let start = split * uniforms.chunk;
      let end = min(start + uniforms.chunk, uniforms.rows);
      var sums: array<array<f32, ${registersN}>, ${registersM}>;
      // The trip count comes from uniforms only, so the barriers stay in uniform control flow.
      for (var step = 0; step < uniforms.chunk; step += ${depth}) {
        for (var load = 0; load < ${registersM}; load++) {
          let e = flat + load * ${threads * threads};
          let row = start + step + e / ${tileM};
          let channel = firstIn + e % ${tileM};
          var value = 0.0;
          if (row < end && channel < uniforms.inChannels) {
            ${readX}
          }
          xTile[e] = value;
        }
        for (var load = 0; load < ${registersN}; load++) {
          let e = flat + load * ${threads * threads};
          let row = start + step + e / ${tileN};
          let channel = firstOut + e % ${tileN};
          var value = 0.0;
          if (row < end && channel < uniforms.outChannels) {
            value = dy[row * uniforms.outChannels + channel];
          }
          dyTile[e] = value;
        }
        workgroupBarrier();
        for (var k = 0; k < ${depth}; k++) {
          var a: array<f32, ${registersM}>;
          for (var i = 0; i < ${registersM}; i++) {
            a[i] = xTile[k * ${tileM} + ty + i * ${threads}];
          }
          for (var j = 0; j < ${registersN}; j++) {
            let b = dyTile[k * ${tileN} + tx + j * ${threads}];
            for (var i = 0; i < ${registersM}; i++) {
              sums[i][j] = fma(a[i], b, sums[i][j]);
            }
          }
        }
        workgroupBarrier();
      }
      let base = (split * uniforms.taps + tap) * uniforms.inChannels;
      for (var i = 0; i < ${registersM}; i++) {
        let inChannel = firstIn + ty + i * ${threads};
        for (var j = 0; j < ${registersN}; j++) {
          let outChannel = firstOut + tx + j * ${threads};
          if (inChannel < uniforms.inChannels && outChannel < uniforms.outChannels) {
            result[(base + inChannel) * uniforms.outChannels + outChannel] = sums[i][j];
          }
        }
      }
    }`;
}
