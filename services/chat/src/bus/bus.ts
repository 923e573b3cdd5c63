import { ChatError } from '@relay-chat/protocol';
import { counter, gauge, type Logger } from '@relay-chat/service-kit';

/**
 * The broker connection a bus runs on. A backend moves bytes and nothing else: no
 * reference counting, no prefixes, no listeners per topic — `Bus` owns those, once.
 * `memory.ts` (one process) and `redis.ts` (Redis pub/sub) implement it.
 */
export interface BusTransport {
  /** Sends `payload` to every transport subscribed to `channel` (this one included). */
  publish(channel: string, payload: string): Promise<void>;
  /** Resolves once messages on `channels` reach `onMessage`. */
  subscribe(channels: string[]): Promise<void>;
  /** Resolves once no further messages on `channels` reach `onMessage`. */
  unsubscribe(channels: string[]): Promise<void>;
  /** Every incoming message; called synchronously, in broker order per channel. */
  onMessage(handler: (channel: string, payload: string) => void): void;
  /**
   * Connection transitions: `down` when the broker link is lost (messages may be lost
   * from then on), `up` once it is back AND every channel subscribed before is
   * subscribed again (the transport resubscribes by itself).
   */
  onStateChange(handler: (state: TransportState) => void): void;
  /** Throws when the broker is unreachable (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type TransportState = 'up' | 'down';

/** Receives each payload exactly as published: the same string for every local listener. */
export type BusListener = (payload: string) => void;

/** One local listener on one topic. */
export interface Subscription {
  readonly topic: string;
  /**
   * Resolves once the broker delivers this topic to this replica; rejects (with
   * ChatError `unavailable`) when subscribing failed. Already handled: ignoring it never
   * raises an unhandled rejection.
   */
  readonly ready: Promise<void>;
  /** Stops this listener; idempotent. Resolves when a resulting broker unsubscribe is done. */
  unsubscribe(): Promise<void>;
}

export interface BusOptions {
  transport: BusTransport;
  /** Prepended to every topic to form the broker channel, e.g. `relay:` (test runs use unique ones). */
  prefix: string;
  logger: Logger;
}

const published = counter('chat_bus_published_total', 'Payloads published to the bus.');
const publishFailures = counter('chat_bus_publish_failures_total', 'Publishes the broker refused or lost.');
const received = counter('chat_bus_received_total', 'Payloads received from the bus for a local topic.');
const subscriptions = gauge('chat_bus_subscriptions', 'Topics this process is subscribed to at the broker.');
const resyncs = counter('chat_bus_resyncs_total', 'Broker reconnects after which events may have been lost.');

interface TopicEntry {
  readonly channel: string;
  readonly topic: string;
  /** Copy-on-write, so dispatch iterates a stable array while listeners come and go. */
  subs: readonly LocalSubscription[];
  /** Whether the transport is subscribed to `channel` (as far as completed calls tell). */
  subscribed: boolean;
  /** Tail of this topic's serialized subscribe/unsubscribe calls. */
  queue: Promise<void>;
  pending: number;
}

class LocalSubscription implements Subscription {
  ready: Promise<void> = Promise.resolve();
  active = true;
  constructor(
    readonly topic: string,
    readonly listener: BusListener,
    private readonly leave: (sub: LocalSubscription) => Promise<void>,
  ) {}
  unsubscribe(): Promise<void> {
    if (!this.active) return Promise.resolve();
    this.active = false;
    return this.leave(this);
  }
}

/**
 * Topic-based fan-out over a transport: the semantics written once.
 *
 * - A topic maps to the broker channel `${prefix}${topic}`.
 * - The broker subscription is reference-counted over local listeners: the first
 *   listener subscribes, the last `unsubscribe()` unsubscribes. Calls for one topic are
 *   serialized and each reconciles the broker with the current listener count, so any
 *   interleaving of subscribe/unsubscribe ends in the right state.
 * - Dispatch is one Map lookup per incoming message; listeners are called synchronously
 *   with the very string the transport delivered (never parsed, never copied).
 * - `onResync` handlers run when the broker link comes back after a loss: events may have
 *   been missed meanwhile, and the store is the truth to recover them from.
 */
export class Bus {
  private readonly transport: BusTransport;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly topics = new Map<string, TopicEntry>();
  private readonly resyncHandlers: Array<() => void> = [];
  private linkState: TransportState = 'up';
  private everDown = false;
  private closed = false;

  constructor({ transport, prefix, logger }: BusOptions) {
    this.transport = transport;
    this.prefix = prefix;
    this.log = logger;
    transport.onMessage(this.dispatch);
    transport.onStateChange((state) => this.stateChanged(state));
  }

  /** `down` while the broker link is lost; published events may be missed meanwhile. */
  get state(): TransportState {
    return this.linkState;
  }

  /** Adds a local listener; the broker subscription is shared by all listeners of a topic. */
  subscribe(topic: string, listener: BusListener): Subscription {
    if (this.closed) throw new ChatError('unavailable', 'The bus is closed.');
    const channel = this.prefix + topic;
    let entry = this.topics.get(channel);
    if (entry === undefined) {
      entry = { channel, topic, subs: [], subscribed: false, queue: Promise.resolve(), pending: 0 };
      this.topics.set(channel, entry);
    }
    const owner = entry;
    const sub = new LocalSubscription(topic, listener, (s) => this.leave(owner, s));
    entry.subs = [...entry.subs, sub];
    // Already subscribed with nothing queued: ready now. Otherwise a reconcile behind any
    // queued call guarantees the broker ends subscribed (or reports why not).
    if (!entry.subscribed || entry.pending > 0) sub.ready = this.reconcileSoon(entry);
    return sub;
  }

  /** Publishes a ready-serialized payload; fails with ChatError `unavailable` when the broker refuses it. */
  async publish(topic: string, payload: string): Promise<void> {
    if (this.closed) throw new ChatError('unavailable', 'The bus is closed.');
    try {
      await this.transport.publish(this.prefix + topic, payload);
    } catch (err) {
      publishFailures.inc();
      throw new ChatError('unavailable', 'The message broker is unavailable.', { cause: err });
    }
    published.inc();
  }

  /** Runs `handler` each time the broker link is back after a loss (events may have been missed). */
  onResync(handler: () => void): void {
    this.resyncHandlers.push(handler);
  }

  /** Readiness: throws ChatError `unavailable` unless the broker answers and the link is up. */
  async ready(): Promise<void> {
    if (this.closed) throw new ChatError('unavailable', 'The bus is closed.');
    if (this.linkState === 'down') throw new ChatError('unavailable', 'The message broker link is down.');
    try {
      await this.transport.ping();
    } catch (err) {
      throw new ChatError('unavailable', 'The message broker is unavailable.', { cause: err });
    }
  }

  /** Drops every local listener and closes the transport. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.topics.values()) {
      if (entry.subscribed) subscriptions.dec();
      for (const sub of entry.subs) sub.active = false;
    }
    this.topics.clear();
    await this.transport.close();
  }

  private readonly dispatch = (channel: string, payload: string): void => {
    const entry = this.topics.get(channel);
    if (entry === undefined) return;
    received.inc();
    const subs = entry.subs;
    for (let i = 0; i < subs.length; i++) {
      try {
        subs[i]!.listener(payload);
      } catch (err) {
        // One faulty listener must not starve the others of this event.
        this.log.error({ err, topic: entry.topic }, 'bus listener threw');
      }
    }
  };

  private leave(entry: TopicEntry, sub: LocalSubscription): Promise<void> {
    entry.subs = entry.subs.filter((s) => s !== sub);
    if (entry.subs.length > 0 || this.closed) return Promise.resolve();
    return this.reconcileSoon(entry);
  }

  /** Queues a reconcile behind this topic's earlier calls; the returned promise is pre-handled. */
  private reconcileSoon(entry: TopicEntry): Promise<void> {
    entry.pending++;
    const run = entry.queue.then(() => this.reconcile(entry));
    entry.queue = run.catch(() => {});
    return run;
  }

  private async reconcile(entry: TopicEntry): Promise<void> {
    try {
      const wanted = entry.subs.length > 0 && !this.closed;
      if (wanted === entry.subscribed || this.closed) return;
      if (wanted) {
        await this.transport.subscribe([entry.channel]);
        entry.subscribed = true;
        subscriptions.inc();
      } else {
        await this.transport.unsubscribe([entry.channel]);
        entry.subscribed = false;
        subscriptions.dec();
      }
    } catch (err) {
      if (this.closed) return;
      this.log.warn({ err, topic: entry.topic }, 'bus subscription change failed');
      throw new ChatError('unavailable', 'The message broker is unavailable.', { cause: err });
    } finally {
      entry.pending--;
      const idle = entry.pending === 0 && entry.subs.length === 0 && !entry.subscribed;
      if (idle && this.topics.get(entry.channel) === entry) this.topics.delete(entry.channel);
    }
  }

  private stateChanged(state: TransportState): void {
    if (state === this.linkState) return;
    this.linkState = state;
    if (state === 'down') {
      this.everDown = true;
      this.log.warn('message broker link down; events may be missed until it is back');
      return;
    }
    if (!this.everDown || this.closed) return;
    resyncs.inc();
    this.log.info('message broker link back up; resynchronising');
    for (const handler of this.resyncHandlers) {
      try {
        handler();
      } catch (err) {
        this.log.error({ err }, 'bus resync handler threw');
      }
    }
  }
}
