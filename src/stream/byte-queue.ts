// A FIFO bounded by bytes and by count, with waits for room and for items, and counters you can read.

export interface ByteQueueOptions {
  maxBytes: number;
  maxItems: number;
}

export class ByteQueue<T> {
  private readonly items: Array<{ item: T; bytes: number }> = [];
  private wakeProducer?: () => void;
  private wakeConsumer?: () => void;
  bytes = 0;
  peakBytes = 0;
  peakDepth = 0;

  constructor(private readonly options: ByteQueueOptions) {}

  get depth(): number {
    return this.items.length;
  }

  /** True when `bytes` more would fit. An empty queue always takes one item, so an item over the budget cannot deadlock. */
  hasRoomFor(bytes: number): boolean {
    if (this.items.length === 0) return true;
    return this.items.length < this.options.maxItems && this.bytes + bytes <= this.options.maxBytes;
  }

  push(item: T, bytes: number): void {
    this.items.push({ item, bytes });
    this.bytes += bytes;
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
    this.peakDepth = Math.max(this.peakDepth, this.items.length);
    this.wake('consumer');
  }

  shift(): T | undefined {
    const entry = this.items.shift();
    if (!entry) return undefined;
    this.bytes -= entry.bytes;
    this.wake('producer');
    return entry.item;
  }

  /** Resolves at the next push, shift or `wakeAll`. */
  changed(side: 'producer' | 'consumer'): Promise<void> {
    return new Promise((resolve) => {
      if (side === 'producer') this.wakeProducer = resolve;
      else this.wakeConsumer = resolve;
    });
  }

  wakeAll(): void {
    this.wake('producer');
    this.wake('consumer');
  }

  private wake(side: 'producer' | 'consumer'): void {
    const wake = side === 'producer' ? this.wakeProducer : this.wakeConsumer;
    if (side === 'producer') this.wakeProducer = undefined;
    else this.wakeConsumer = undefined;
    wake?.();
  }
}
