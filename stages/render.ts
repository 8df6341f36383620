// Render: decodes each planned image to 8-bit sRGB pixels in one sharp pass (orient, crop, shrink-on-load resize, colour), N in flight, in order.
// A flip is left to `batch`, which mirrors the rows as it writes them, unless a rotation must follow it.

import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import type { PixelSample, ResizedSample } from '../src/data/samples.ts';
import { DataError } from '../src/errors.ts';
import { type ErrorPolicy, handleSampleError } from '../src/stream/error-policy.ts';
import { checkErrorPolicy, wholeFrom } from '../src/stream/options.ts';
import { orderedMap } from '../src/stream/ordered-map.ts';
import { describedStage, type Stage } from '../src/stream/stage.ts';

export interface RenderOptions {
  /** Images decoded at once. Default 4 × cores: libvips threads fill the cores, and more in flight hides file I/O. */
  concurrency?: number;
  /** What to do with an image that fails: 'quarantine' data errors and stop on the others (default), 'stop', or a function. */
  onError?: ErrorPolicy;
}

/** Takes resized samples only: a chain without `resize` does not compile. */
export function render(options: RenderOptions = {}): Stage<ResizedSample, PixelSample> {
  const concurrency = wholeFrom('render', 'concurrency', options.concurrency ?? Math.max(4, 4 * availableParallelism()), 1);
  const onError = checkErrorPolicy('render', options.onError ?? 'quarantine');
  // libvips' operation cache never hits on a stream of distinct files; it only adds to host memory.
  sharp.cache(false);
  const info = {
    name: 'render',
    options: { concurrency, onError },
    memory: { items: concurrency, what: 'images decoding (one output image each)' },
  };
  return describedStage(info, (source, context) =>
    orderedMap(
      source,
      async (sample) => {
        try {
          return await renderImage(sample);
        } catch (error) {
          return handleSampleError(onError, error, sample.origin, 'cannot decode: ', context);
        }
      },
      { concurrency, signal: context.signal },
    ),
  );
}

export async function renderImage(sample: ResizedSample): Promise<PixelSample> {
  const { plan } = sample;
  let image = sample.open();
  if (plan.crop) image = image.extract(plan.crop);
  image = image.resize(plan.resize.width, plan.resize.height, { fit: plan.resize.fit, background: { r: 0, g: 0, b: 0 } });
  const mirror = plan.flip === true && !plan.rotate;
  if (plan.flip && !mirror) image = image.flop();
  if (plan.saturation !== undefined && plan.saturation !== 1) image = image.modulate({ saturation: plan.saturation });
  let { data, info } = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (plan.rotate) ({ data, info } = await rotateKeepingSize(data, info.width, info.height, plan.rotate));
  if (info.channels !== 3) throw new DataError(sample.origin, `expected 3 channels after conversion, got ${info.channels}`);
  return {
    key: sample.key,
    label: sample.label,
    classIndex: sample.classIndex,
    origin: sample.origin,
    pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
    channels: 3,
    brightness: plan.brightness ?? 1,
    contrast: plan.contrast ?? 1,
    mirror,
  };
}

/** Rotates about the centre and crops back to the original size (corners filled black). */
async function rotateKeepingSize(data: Buffer, width: number, height: number, degrees: number) {
  const rotated = sharp(data, { raw: { width, height, channels: 3 } }).rotate(degrees, { background: { r: 0, g: 0, b: 0 } });
  const { data: big, info } = await rotated.raw().toBuffer({ resolveWithObject: true });
  const left = Math.floor((info.width - width) / 2);
  const top = Math.floor((info.height - height) / 2);
  return sharp(big, { raw: { width: info.width, height: info.height, channels: 3 } })
    .extract({ left, top, width, height })
    .raw()
    .toBuffer({ resolveWithObject: true });
}
