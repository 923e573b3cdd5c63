import type { BusTransport, TransportState } from './bus.js';

/**
 * The in-process broker of embedded mode: channels and their subscribed transports. Two
 * `MemoryTransport`s on one broker behave like two replicas on one Redis (tests use that).
 * Delivery is asynchronous (a microtask per publish) and in publish order, as from a real
 * broker: a publisher never runs its subscribers' listeners inside its own call stack.
 */
export class MemoryBroker {
  private readonly channels = new Map<string, Set<MemoryTransport>>();

  /** Transports subscribed to `channel` right now (the `PUBSUB NUMSUB` of this broker). */
  subscriberCount(channel: string): number {
    return this.channels.get(channel)?.size ?? 0;
  }

  publish(channel: string, payload: string): void {
    const set = this.channels.get(channel);
    if (set === undefined) return;
    // Like Redis, the receivers are those subscribed when the publish happens.
    const receivers = [...set];
    queueMicrotask(() => {
      for (const transport of receivers) transport.deliver(channel, payload);
    });
  }

  add(channel: string, transport: MemoryTransport): void {
    let set = this.channels.get(channel);
    if (set === undefined) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(transport);
  }

  remove(channel: string, transport: MemoryTransport): void {
    const set = this.channels.get(channel);
    if (set === undefined) return;
    set.delete(transport);
    if (set.size === 0) this.channels.delete(channel);
  }
}

/** A transport on an in-process broker (its own one unless given). Never goes down. */
export class MemoryTransport implements BusTransport {
  private readonly broker: MemoryBroker;
  private readonly channels = new Set<string>();
  private readonly handlers: Array<(channel: string, payload: string) => void> = [];
  private closed = false;

  constructor(broker: MemoryBroker = new MemoryBroker()) {
    this.broker = broker;
  }

  async publish(channel: string, payload: string): Promise<void> {
    if (this.closed) throw new Error('memory transport is closed');
    this.broker.publish(channel, payload);
  }

  async subscribe(channels: string[]): Promise<void> {
    if (this.closed) throw new Error('memory transport is closed');
    for (const channel of channels) {
      this.channels.add(channel);
      this.broker.add(channel, this);
    }
  }

  async unsubscribe(channels: string[]): Promise<void> {
    for (const channel of channels) {
      this.channels.delete(channel);
      this.broker.remove(channel, this);
    }
  }

  onMessage(handler: (channel: string, payload: string) => void): void {
    this.handlers.push(handler);
  }

  onStateChange(_handler: (state: TransportState) => void): void {
    // In-process: the link never goes down.
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('memory transport is closed');
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const channel of this.channels) this.broker.remove(channel, this);
    this.channels.clear();
  }

  /** Called by the broker; drops messages for channels unsubscribed since the publish. */
  deliver(channel: string, payload: string): void {
    if (!this.channels.has(channel)) return;
    for (const handler of this.handlers) handler(channel, payload);
  }
}
