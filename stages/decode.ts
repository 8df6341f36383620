// Decode: checks each image (format allowlist, pixel limit, readable header) with N in flight, keeping order; pixels are decoded later by `render` so resizing can use shrink-on-load.

import sharp, { type Metadata } from 'sharp';
import { readJpegHeader } from '../src/data/jpeg-header.ts';
import type { DecodedSample, EncodedSample } from '../src/data/samples.ts';
import { defaultFormats, readHead, sniffFormat } from '../src/data/sniff-format.ts';
import { DataError, OptionError } from '../src/errors.ts';
import { type ErrorPolicy, handleSampleError } from '../src/stream/error-policy.ts';
import { checkErrorPolicy, wholeFrom } from '../src/stream/options.ts';
import { orderedMap } from '../src/stream/ordered-map.ts';
import { describedStage, type Stage } from '../src/stream/stage.ts';

/** Bytes of each file's head read to check its format and header. */
const headBytes = 65536;
/** Formats sharp can decode here; `formats` may name only these. */
const knownFormats = [...defaultFormats, 'svg'];

export interface DecodeOptions {
  /** Headers read at once. Default 8. */
  concurrency?: number;
  /** Images with more pixels are refused as decompression bombs. Default 178 956 970 (Pillow's limit). */
  maxPixels?: number;
  /** Formats accepted. Default jpeg, png, webp, gif, tiff, heif (incl. AVIF). SVG can reference other files: add 'svg' only for trusted data. */
  formats?: readonly string[];
  /** What to do with an image that fails: 'quarantine' data errors and stop on the others (default), 'stop', or a function. */
  onError?: ErrorPolicy;
}

/** Takes encoded samples only: a second decode does not compile (a decoded sample has a format). */
export function decode(options: DecodeOptions = {}): Stage<EncodedSample, DecodedSample> {
  const concurrency = wholeFrom('decode', 'concurrency', options.concurrency ?? 8, 1);
  const maxPixels = wholeFrom('decode', 'maxPixels', options.maxPixels ?? 178_956_970, 1);
  const formats = checkFormats(options.formats ?? defaultFormats);
  const onError = checkErrorPolicy('decode', options.onError ?? 'quarantine');
  const info = {
    name: 'decode',
    options: { concurrency, maxPixels, formats: formats.join(','), onError },
    memory: { items: concurrency, bytes: concurrency * headBytes, what: 'file heads in flight' },
  };
  return describedStage(info, (source, context) =>
    orderedMap(
      source,
      async (sample) => {
        try {
          return await inspectImage(sample, maxPixels, formats);
        } catch (error) {
          return handleSampleError(onError, error, sample.origin, '', context);
        }
      },
      { concurrency, signal: context.signal },
    ),
  );
}

function checkFormats(formats: unknown): readonly string[] {
  if (!Array.isArray(formats) || formats.length === 0 || !formats.every((format) => knownFormats.includes(format)))
    throw new OptionError('decode', 'formats', `a non-empty list of ${knownFormats.join(', ')}`, formats);
  return formats;
}

async function inspectImage(sample: EncodedSample, maxPixels: number, formats: readonly string[]): Promise<DecodedSample> {
  // One read of the file's head serves both the format check and the header parse (sizes, orientation).
  const head = await readHead(sample.input, headBytes);
  const format = sniffFormat(head);
  const refuse = (reason: string) => new DataError(sample.origin, reason);
  if (!format) throw refuse('not a recognised image format');
  if (!formats.includes(format)) throw refuse(`format '${format}' is refused (allow it with the decode option 'formats')`);
  // Most files are JPEGs whose frame header sits in the first bytes: read it here instead of a second decoder call.
  const jpeg = format === 'jpeg' ? readJpegHeader(head) : undefined;
  const metadata = jpeg
    ? { width: jpeg.width, height: jpeg.height, orientation: jpeg.orientation }
    : await readMetadata(head, sample.input);
  const orientation = metadata.orientation ?? 1;
  // Already 8-bit sRGB without alpha (most JPEGs): skipping no-op conversions keeps render at sharp's own speed.
  const plainRgb = jpeg ? jpeg.components === 3 : isPlainRgb(metadata as Metadata);
  const open = () => {
    let image = sharp(sample.input, { limitInputPixels: maxPixels, failOn: 'truncated', pages: 1 });
    if (orientation > 1) image = image.autoOrient();
    if (!plainRgb) image = image.removeAlpha().toColourspace('srgb');
    return image;
  };
  if (!metadata.width || !metadata.height) throw refuse('image has no size');
  if (metadata.width * metadata.height > maxPixels) {
    throw refuse(`${metadata.width}x${metadata.height} exceeds the pixel limit of ${maxPixels} (decompression bomb?)`);
  }
  const swapped = orientation >= 5; // EXIF orientations 5–8 turn the image a quarter
  return {
    key: sample.key,
    label: sample.label,
    classIndex: sample.classIndex,
    origin: sample.origin,
    input: sample.input,
    format,
    width: swapped ? metadata.height : metadata.width,
    height: swapped ? metadata.width : metadata.height,
    plan: {},
    open,
  };
}

function isPlainRgb(metadata: Metadata): boolean {
  return metadata.space === 'srgb' && metadata.channels === 3 && metadata.depth === 'uchar' && !metadata.hasAlpha;
}

async function readMetadata(head: Uint8Array, input: string | Buffer): Promise<Metadata> {
  const whole = typeof input !== 'string' && head.length === input.length;
  if (!whole) {
    try {
      const metadata = await sharp(head, { limitInputPixels: false, pages: 1 }).metadata();
      if (metadata.width && metadata.height) return metadata;
    } catch {
      // The header runs past the first 64 KiB (a large EXIF or ICC block): read it from the whole file below.
    }
  }
  return sharp(input, { limitInputPixels: false, pages: 1 }).metadata();
}
