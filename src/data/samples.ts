// The records that flow between stages, from encoded file to batch.

import type { Sharp } from 'sharp';

export interface SampleInfo {
  /** Stable id: the path relative to the dataset root, or the tar member key. */
  key: string;
  /** Class name. */
  label: string;
  /** Index of `label` in the dataset's sorted class list. */
  classIndex: number;
  /** Where the sample came from, for error reports: a file, or `shard.tar:member`. */
  origin: string;
}

/** An image still encoded: a path to read or bytes already read (from a tar). */
export interface EncodedSample extends SampleInfo {
  input: string | Buffer;
  /** Never set: it keeps a decoded sample (which has a format) from being decoded twice, checked by the compiler. */
  format?: never;
}

/** The geometry and colour work planned for one image, executed by `render` in one sharp pass. */
export interface ImagePlan {
  /** Region of the oriented source to keep, in source pixels. */
  crop?: { left: number; top: number; width: number; height: number };
  resize?: { width: number; height: number; fit: 'cover' | 'contain' | 'fill' };
  flip?: boolean;
  /** Degrees, applied after resizing, keeping the output size. */
  rotate?: number;
  /** Saturation multiplier (1 = unchanged). */
  saturation?: number;
  /** Per-sample brightness and contrast multipliers, folded into the normalization table. */
  brightness?: number;
  contrast?: number;
}

/** A validated image whose pixels are not decoded yet, so resize and crops can reach the decoder (shrink-on-load). */
export interface DecodedSample extends SampleInfo {
  input: string | Buffer;
  format: string;
  /** Size after EXIF orientation. */
  width: number;
  height: number;
  plan: ImagePlan;
  /** Builds the sharp pipeline that decodes this image (orientation applied); used by `render`. */
  open: () => Sharp;
}

/**
 * A decoded sample whose output size is planned (by `resize`): what `augment` and `render` take, so the compiler refuses
 * augmenting before resizing (resize would undo the crop's fit) and rendering without a size.
 */
export interface ResizedSample extends DecodedSample {
  plan: ImagePlan & { resize: NonNullable<ImagePlan['resize']> };
}

/** 8-bit sRGB pixels, height × width × 3, row-major. */
export interface PixelSample extends SampleInfo {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 3;
  /** Multipliers that `normalize` folds into its per-channel table. */
  brightness: number;
  contrast: number;
  /** A horizontal flip still to apply: `batch` writes the rows right to left. */
  mirror?: boolean;
}

export type ElementType = 'float32' | 'float16' | 'uint8';

/** The table type of each element type: binary16 tables are bit patterns in a Uint16Array. */
export type TableOf<Type extends ElementType> = Type extends 'float16'
  ? Uint16Array
  : Type extends 'uint8'
    ? Uint8Array
    : Type extends 'float32'
      ? Float32Array
      : Float32Array | Uint16Array | Uint8Array;

/**
 * Pixels plus a per-channel lookup table: value = table[channel * 256 + pixel].
 * Normalization of 8-bit data is a per-channel function of 256 inputs, so it is stored as a table
 * and applied once, when `batch` writes the contiguous array.
 */
export interface TabulatedSample<Type extends ElementType = ElementType> extends SampleInfo {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 3;
  /** 'float16' only after `fp16Cast`, so a second cast does not compile. */
  dtype: Type;
  table: TableOf<Type>;
  /** A horizontal flip still to apply: `batch` writes the rows right to left. */
  mirror?: boolean;
}

export interface Batch {
  /** N × H × W × C, contiguous. Float16 data is binary16 bit patterns. */
  x: Float32Array | Uint16Array | Uint8Array;
  y: Int32Array;
  keys: string[];
  shape: [number, number, number, number];
  dtype: ElementType;
  bytes: number;
  /** Gives `x` back to the pool it came from once the consumer is done with it (optional: otherwise the GC frees it). */
  release?: () => void;
}
