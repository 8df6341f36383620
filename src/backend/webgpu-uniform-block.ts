// The uniform block tfjs 4.22's webgpu backend writes for a program (backend_webgpu.ts, recordAndSubmit and makeUniforms),
// rebuilt without allocating, so that streamfit's cached recording (webgpu-cached-record.ts) can look it up by content.

export interface UniformField {
  type: string;
  data: ArrayLike<number>;
}

export interface UniformProgram {
  size?: boolean;
  outputShape: number[];
  outputComponent?: number;
}

const scratch = new Int32Array(1024);
const scratchFloats = new Float32Array(scratch.buffer);
const scratchUnsigned = new Uint32Array(scratch.buffer);
/** Words the last block wrote, zeroed before the next one (padding must read as zero for the lookup by content). */
let scratchUsed = scratch.length;

/**
 * NaN and Infinity, each input's and the output's shape and strides, the output size when the program asks for it, then
 * the program's own fields, each aligned as WGSL aligns it: 32-bit words, padding zeroed, in a view of one scratch array
 * that the next call overwrites. undefined when the block would exceed the scratch array's 4 KiB (tfjs' own path then).
 */
export function uniformWords(
  program: UniformProgram,
  output: { shape: number[] },
  inputs: { shape: number[] }[],
  programUniforms: UniformField[] = [],
): Int32Array | undefined {
  const block = new UniformBlock();
  try {
    block.field('float32', [Number.NaN]);
    block.field('float32', [Number.POSITIVE_INFINITY]);
    for (let i = 0; i <= inputs.length; i++) block.shapeAndStrides(i < inputs.length ? inputs[i].shape : output.shape);
    if (program.size) {
      let size = 1;
      for (const n of program.outputShape) size *= n;
      block.field('int32', [program.outputComponent ? size / program.outputComponent : size]);
    }
    for (const { type, data } of programUniforms) block.field(type, data);
    return block.words();
  } catch (error) {
    if (error instanceof BlockTooLarge) return undefined;
    throw error;
  } finally {
    scratchUsed = Math.max(block.end, scratchUsed);
  }
}

class BlockTooLarge extends Error {}

/** Fields laid out one after the other in `scratch`, offsets and lengths in 32-bit words. */
class UniformBlock {
  /** One past the last word written. */
  end = 0;
  private previousLength = 0;
  private maxAlignment = 1;

  constructor() {
    scratch.fill(0, 0, scratchUsed);
    scratchUsed = 0;
  }

  field(type: string, data: ArrayLike<number>): void {
    // tfjs writes an empty field as [1], through the field's own type.
    const values = data.length === 0 ? [1] : data;
    const start = this.place(values.length);
    const view = type === 'int32' ? scratch : type === 'uint32' ? scratchUnsigned : scratchFloats;
    for (let j = 0; j < values.length; j++) view[start + j] = values[j];
  }

  /** A shape, then its strides (tf.util.computeStrides: one fewer than the rank, written as [1] below rank 2). */
  shapeAndStrides(shape: number[]): void {
    this.field('int32', shape);
    const rank = shape.length;
    if (rank < 2) {
      scratch[this.place(1)] = 1;
      return;
    }
    const start = this.place(rank - 1);
    let stride = 1;
    for (let i = rank - 1; i > 0; i--) {
      stride *= shape[i];
      scratch[start + i - 1] = stride;
    }
  }

  words(): Int32Array {
    const length = Math.ceil(this.end / this.maxAlignment) * this.maxAlignment;
    return scratch.subarray(0, length);
  }

  private place(length: number): number {
    if (length > 6) throw new Error(`Unsupported ${length}D shape in a webgpu program's uniforms`);
    // A vec2 aligns to 2 words, vec3 to vec6 (tfjs' structs) to 4, and whatever follows a vec5 or vec6 to 4 too.
    let alignment = length === 1 ? 1 : length === 2 ? 2 : 4;
    if (this.previousLength === 5 || this.previousLength === 6) alignment = 4;
    if (alignment > this.maxAlignment) this.maxAlignment = alignment;
    const start = Math.ceil(this.end / alignment) * alignment;
    if (start + length + 4 > scratch.length) throw new BlockTooLarge();
    this.end = start + length;
    this.previousLength = length;
    return start;
  }
}
