/**
 * Group work by event-loop turn: the items pushed during one turn go out together, one batch
 * in flight at a time; those pushed while it is out wait and go in the next, at most
 * `maxBatch` per batch, always in the order they were pushed. The append batcher (one
 * durable commit per batch) and the Redis budget (one script call per batch) share it.
 */
export class TurnBatches<T> {
  private queue: T[] = [];
  private flushing = false;
  private idle: (() => void)[] = [];

  /** `send` settles every item of its batch itself; it must not reject. */
  constructor(
    private readonly maxBatch: number,
    private readonly send: (batch: T[]) => Promise<void>,
  ) {}

  push(item: T): void {
    this.queue.push(item);
    if (!this.flushing) {
      this.flushing = true;
      // Let the rest of this event-loop turn's items join the first batch.
      setImmediate(() => void this.flush());
    }
  }

  /** Resolves when every item pushed so far has been sent. */
  drain(): Promise<void> {
    if (!this.flushing) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) await this.send(this.queue.splice(0, this.maxBatch));
    this.flushing = false;
    for (const resolve of this.idle.splice(0)) resolve();
  }
}
