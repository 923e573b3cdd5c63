import { type Logger, withDeadline } from '@relay-chat/service-kit';
import { Redis } from 'ioredis';
import type { BusTransport, TransportState } from './bus.js';
import type { RedisClient } from './redis-target.js';

/**
 * Redis pub/sub as a bus transport (scale-out mode): PUBLISH on one connection, SUBSCRIBE
 * on another (a connection in subscriber mode can do nothing else). Bytes only — the
 * semantics live in `Bus`.
 *
 * Failure behaviour, chosen deliberately:
 * - Publishing fails fast while Redis is unreachable (`enableOfflineQueue: false`,
 *   `maxRetriesPerRequest: 0`, no resend of unanswered commands, `publishTimeoutMs`). A
 *   queued publish would only delay an event whose message is already committed to the
 *   store; the gateway treats the failure as "clients recover it from history". Resending
 *   an unanswered PUBLISH could also deliver it twice.
 * - Subscription changes never fail because of a disconnect: they wait in the offline
 *   queue (`maxRetriesPerRequest: null`) and run after ioredis has resubscribed the
 *   channels it had (`autoResubscribe`). `up` is reported only after a PING on the
 *   subscriber connection answers, i.e. after those resubscriptions took effect, so no
 *   event published after `up` is missed.
 *
 * Redis Cluster: this class speaks to one Redis (or a Sentinel-managed primary);
 * `redis-cluster.ts` is the sharded pub/sub transport (`SPUBLISH`/`SSUBSCRIBE`) with the
 * same failure choices — nothing in `Bus` changes.
 */
export interface RedisTransportOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. */
  url: string;
  logger: Logger;
  /** Client names in `CLIENT LIST`: `${connectionName}:pub` and `${connectionName}:sub`; default `relay-chat-bus`. */
  connectionName?: string;
  /** A publish not answered within this many milliseconds fails; default 2000. */
  publishTimeoutMs?: number;
  /** `ping()` (readiness) fails after this many milliseconds; default 2000. */
  pingTimeoutMs?: number;
}

export class RedisTransport implements BusTransport {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly log: Logger;
  private readonly stateHandlers: Array<(state: TransportState) => void> = [];
  /** `connecting` until the first time the subscriber link is up. */
  private link: 'connecting' | TransportState = 'connecting';
  /** Bumped on every link loss, so a late PING answer from an older link changes nothing. */
  private generation = 0;
  private closing = false;
  private readonly pingTimeoutMs: number;
  /** (Un)subscriptions not yet written, in call order (see `queue`). */
  private pendingOps: PendingOp[] = [];
  /** Resolves at the end of the turn in which the first of `pendingOps` was queued. */
  private turnEnd: Promise<void> | undefined;

  constructor(options: RedisTransportOptions) {
    const name = options.connectionName ?? 'relay-chat-bus';
    this.log = options.logger;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 2000;
    this.pub = new Redis(options.url, {
      connectionName: `${name}:pub`,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.publishTimeoutMs ?? 2000,
      // The publishes of one event-loop turn go out in one write (in order: one connection).
      enableAutoPipelining: true,
    });
    this.sub = new Redis(options.url, {
      connectionName: `${name}:sub`,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
      autoResendUnfulfilledCommands: true,
    });
    this.reportErrors(this.pub, 'publisher');
    this.reportErrors(this.sub, 'subscriber');
    this.sub.on('ready', () => this.subscriberReady());
    this.sub.on('close', () => this.linkLost());
    this.sub.on('end', () => this.linkLost());
  }

  /** Waits until both connections are ready and the link is up; throws after `timeoutMs` (default 10 s). */
  async connect(timeoutMs = 10_000): Promise<void> {
    const linkUp = new Promise<void>((resolve) => {
      if (this.link === 'up') resolve();
      else this.onStateChange((state) => state === 'up' && resolve());
    });
    await Promise.all([
      whenReady(this.pub, timeoutMs),
      withDeadline(
        linkUp,
        timeoutMs,
        () => new Error(`Redis subscriber link timed out after ${timeoutMs} ms`),
      ),
    ]);
  }

  async publish(channel: string, payload: string): Promise<void> {
    await this.pub.publish(channel, payload);
  }

  async subscribe(channels: string[]): Promise<void> {
    if (channels.length > 0) await this.queue('subscribe', channels);
  }

  async unsubscribe(channels: string[]): Promise<void> {
    // An UNSUBSCRIBE without arguments would drop every channel.
    if (channels.length > 0) await this.queue('unsubscribe', channels);
  }

  /**
   * Subscriber commands wait for the end of the event-loop turn, and consecutive ones of
   * the same kind go out as one command: a connect storm costs one SUBSCRIBE per turn, not
   * one per connection. Order is kept (a subscribe never overtakes an earlier unsubscribe).
   */
  private queue(kind: PendingOp['kind'], channels: string[]): Promise<void> {
    const last = this.pendingOps.at(-1);
    if (last?.kind === kind) {
      last.channels.push(...channels);
      return last.done;
    }
    this.turnEnd ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.turnEnd = undefined;
        this.pendingOps = [];
        resolve();
      }),
    );
    // Callbacks on one promise run in registration order: the commands keep the calls' order.
    const op: PendingOp = {
      kind,
      channels: [...channels],
      done: this.turnEnd.then(async () => {
        await (op.kind === 'subscribe'
          ? this.sub.subscribe(...op.channels)
          : this.sub.unsubscribe(...op.channels));
      }),
    };
    this.pendingOps.push(op);
    return op.done;
  }

  onMessage(handler: (channel: string, payload: string) => void): void {
    this.sub.on('message', handler);
  }

  onStateChange(handler: (state: TransportState) => void): void {
    this.stateHandlers.push(handler);
  }

  async ping(): Promise<void> {
    if (this.link !== 'up') throw new Error('Redis subscriber link is not up');
    // The subscriber queues commands while down: bound the wait so a probe never hangs.
    await withDeadline(
      Promise.all([this.pub.ping(), this.sub.ping()]),
      this.pingTimeoutMs,
      () => new Error(`Redis PING timed out after ${this.pingTimeoutMs} ms`),
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([quit(this.pub), quit(this.sub)]);
  }

  private subscriberReady(): void {
    const generation = this.generation;
    // Written after ioredis' resubscriptions, so its answer means they took effect.
    this.sub.ping().then(
      () => {
        if (generation !== this.generation || this.closing || this.link === 'up') return;
        this.link = 'up';
        this.emit('up');
      },
      () => {
        // The link dropped again; the next 'ready' retries.
      },
    );
  }

  private linkLost(): void {
    this.generation++;
    if (this.closing || this.link !== 'up') return;
    this.link = 'down';
    this.emit('down');
  }

  private emit(state: TransportState): void {
    for (const handler of this.stateHandlers) handler(state);
  }

  private reportErrors(redis: Redis, role: string): void {
    // ioredis repeats the error on every reconnect attempt: log once per outage.
    let quiet = false;
    redis.on('error', (err: Error) => {
      if (quiet || this.closing) return;
      quiet = true;
      this.log.warn({ err: { message: err.message }, role }, 'Redis bus connection error');
    });
    redis.on('ready', () => {
      quiet = false;
    });
  }
}

interface PendingOp {
  kind: 'subscribe' | 'unsubscribe';
  channels: string[];
  done: Promise<void>;
}

/** Resolves when `redis` is ready; rejects after `timeoutMs` (ioredis keeps retrying meanwhile). */
export function whenReady(redis: RedisClient, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis not ready after ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/** QUIT politely; a connection that is down is just dropped. */
export async function quit(redis: RedisClient): Promise<void> {
  if (redis.status === 'end') return;
  try {
    if (redis.status !== 'ready') throw new Error('not connected');
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}
