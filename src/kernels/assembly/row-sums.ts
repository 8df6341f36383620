// Per-channel sums over the rows of a [rows, channels] float32 array, shared by Sum and Mean (reduce.ts) and the BatchNorm
// kernels, so that BatchNorm's moments are tf.mean's numbers on wasm: each block of up to 256 rows is summed in float32
// (partial sums), then added to float64 sums, so long reductions keep their precision.

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

/** partial[c] += row[c] for c < channels. */
export function addRow(partial: usize, row: usize, channels: i32): void {
  let c = 0;
  for (; c + 16 <= channels; c += 16) {
    const p = partial + ((<usize>c) << 2);
    const q = row + ((<usize>c) << 2);
    v128.store(p, f32x4.add(v128.load(p), v128.load(q)));
    v128.store(p, f32x4.add(v128.load(p, 16), v128.load(q, 16)), 16);
    v128.store(p, f32x4.add(v128.load(p, 32), v128.load(q, 32)), 32);
    v128.store(p, f32x4.add(v128.load(p, 48), v128.load(q, 48)), 48);
  }
  for (; c + 4 <= channels; c += 4) {
    const p = partial + ((<usize>c) << 2);
    v128.store(p, f32x4.add(v128.load(p), v128.load(row + ((<usize>c) << 2))));
  }
  for (; c < channels; c++) {
    const p = partial + ((<usize>c) << 2);
    store<f32>(p, load<f32>(p) + load<f32>(row + ((<usize>c) << 2)));
  }
}
