// A bounded shuffle: a buffer of `size` items drawn from at random, so memory stays bounded however long the stream.

/** Yields every item of `source` once, in an order drawn by `random` from a buffer of at most `size` items. */
export async function* shuffleBuffer<T>(source: AsyncIterable<T>, size: number, random: () => number): AsyncGenerator<T> {
  const buffer: T[] = [];
  for await (const item of source) {
    if (buffer.length < size) {
      buffer.push(item);
      continue;
    }
    const index = Math.floor(random() * size);
    yield buffer[index];
    buffer[index] = item;
  }
  while (buffer.length > 0) {
    const index = Math.floor(random() * buffer.length);
    yield buffer[index];
    buffer[index] = buffer[buffer.length - 1];
    buffer.pop();
  }
}
