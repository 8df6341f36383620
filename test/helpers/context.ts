// A stage context for tests, and a helper that drains an async stream into an array.

import type { DecodedSample, ResizedSample } from '../../src/data/samples.ts';
import { Quarantine } from '../../src/stream/quarantine.ts';
import { mapStage, type StageContext } from '../../src/stream/stage.ts';

export function testContext(epoch = 0, quarantineFile?: string): StageContext {
  return { epoch, quarantine: new Quarantine(quarantineFile) };
}

export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

export async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

/** Plans each image at its own size: what a test renders when it checks decoding, not resizing. */
export const nativeSize = mapStage(
  (sample: DecodedSample): ResizedSample => ({
    ...sample,
    plan: { ...sample.plan, resize: { width: sample.width, height: sample.height, fit: 'fill' } },
  }),
);
