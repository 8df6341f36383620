// What every source stage returns: a function of the context streaming encoded samples, with the class list known up front.

import type { StageContext } from '../stream/stage.ts';
import type { ClassList } from './image-files.ts';
import type { EncodedSample } from './samples.ts';

export interface DatasetSource {
  (context: StageContext): AsyncIterable<EncodedSample>;
  readonly classes: ClassList;
  /** What the dataset is, for logs: the folder, manifest or shard pattern. */
  readonly description: string;
}
