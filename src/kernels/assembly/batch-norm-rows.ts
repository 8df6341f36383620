// Per-channel sums over the rows of a [rows, channels] float32 array for the BatchNorm kernels: each block of up to 256 rows
// is summed in float32 (partial sums), then added to float64 sums, as sumMiddleAxis (reduce.ts) sums for tfjs' Sum and Mean
// on wasm. The results are those of tf.sum there, and long reductions keep their precision.

import { addLanes } from './sums';

/** Rows summed in float32 before their sum goes to the float64 sums. */
export const blockRows = 256;

/** sums[c] += partial[c] (float32 to float64) for c < channels. */
export function addPartialSums(sums: usize, partial: usize, channels: i32): void {
  let c = 0;
  for (; c + 4 <= channels; c += 4) addLanes(sums + ((<usize>c) << 3), v128.load(partial + ((<usize>c) << 2)));
  for (; c < channels; c++) {
    const s = sums + ((<usize>c) << 3);
    store<f64>(s, load<f64>(s) + <f64>load<f32>(partial + ((<usize>c) << 2)));
  }
}
