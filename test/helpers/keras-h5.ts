// Writes a model's weights the way Keras' save_weights lays them out in HDF5, for the weight-import tests.

import type * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';

export interface KerasH5Options {
  /** The layer name the file uses for a model layer (another Keras session numbers unnamed layers differently). */
  layerName?: (name: string) => string;
}

/** Every layer with weights, as Keras writes it: a group per layer with its weight_names, datasets named `<weight>:0`. */
export async function writeKerasH5(model: tf.LayersModel, file: string, options: KerasH5Options = {}): Promise<void> {
  const rename = options.layerName ?? ((name: string) => name);
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'w');
  const layers = model.layers.filter((layer) => layer.weights.length > 0);
  h5.create_attribute(
    'layer_names',
    layers.map((layer) => rename(layer.name)),
  );
  h5.create_attribute('backend', 'tensorflow');
  h5.create_attribute('keras_version', '2.13.1');
  for (const layer of layers) {
    const name = rename(layer.name);
    const group = h5.create_group(name);
    group.create_attribute(
      'weight_names',
      layer.weights.map((weight) => `${name}/${weight.originalName.split('/').pop()}:0`),
    );
    const inner = group.create_group(name);
    for (const weight of layer.weights) {
      let values = weight.read().dataSync() as Float32Array;
      // Keras ≥ 2.10 stores EfficientNet's normalization variance as standard deviations.
      if (weight.originalName === 'normalization/variance') values = Float32Array.from(values, Math.sqrt);
      inner.create_dataset({
        name: `${weight.originalName.split('/').pop()}:0`,
        data: Float32Array.from(values),
        shape: weight.shape as number[],
        dtype: '<f',
      });
    }
  }
  h5.close();
}
