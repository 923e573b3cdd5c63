import { counter, type Logger, withDeadline } from '@relay-chat/service-kit';
import { type Cluster, Redis } from 'ioredis';
import type { BusTransport, TransportState } from './bus.js';
import { quit, whenReady } from './redis.js';
import { clusterNode, createRedisClient } from './redis-target.js';

/**
 * Redis Cluster sharded pub/sub (Redis ≥ 7) as a bus transport: a conversation's channel
 * lives on the master that owns its hash slot, so fan-out traffic spreads over the
 * masters instead of every message crossing every node (classic PUBLISH in a cluster is
 * broadcast to all nodes over the cluster bus).
 *
 * - Publishing: `SPUBLISH` through an ioredis `Cluster` client, which routes by slot and
 *   follows MOVED. Same fail-fast choices as `RedisTransport` (no offline queue, no resend
 *   of unanswered commands, `publishTimeoutMs`): a failed publish is recovered from the store.
 * - Subscribing: one subscriber connection per master that owns a subscribed channel
 *   (opened when first needed), each `SSUBSCRIBE`d to the channels of its slots. The
 *   connections do not reconnect by themselves: this class places every channel again.
 * - Healing: a subscriber connection lost (master killed, failover), a slot moved away (the
 *   server ends the shard subscriptions: `-sunsubscribe`, MOVED on `SSUBSCRIBE`), or the
 *   slot map disagreeing with where channels are subscribed (checked every
 *   `auditIntervalMs`) reports `down`, then drops every subscriber connection, refreshes
 *   the slot map and subscribes every channel again at its owner, retrying until that
 *   works. `up` follows once each `SSUBSCRIBE` is acknowledged: the bus then runs its resync
 *   (the gateway's catch-up from the store), so events published meanwhile are recovered.
 */
export interface RedisClusterTransportOptions {
  /** Seed node URLs (`redis://[user:password@]host:port`); the rest of the cluster is discovered. */
  nodes: readonly string[];
  logger: Logger;
  /** Client names: `${connectionName}:pub`, `${connectionName}:sub:<host:port>`; default `relay-chat-bus`. */
  connectionName?: string;
  /** A publish not answered within this many milliseconds fails; default 2000. */
  publishTimeoutMs?: number;
  /** `ping()` (readiness) fails after this many milliseconds; default 2000. */
  pingTimeoutMs?: number;
  /** An `SSUBSCRIBE` not acknowledged within this many milliseconds counts as a broken link; default 3000. */
  subscribeTimeoutMs?: number;
  /** How often the slot map is compared with the subscriptions; default 1000. */
  auditIntervalMs?: number;
}

const heals = counter(
  'chat_bus_cluster_heals_total',
  'Times the Redis Cluster subscriptions were rebuilt (node lost, failover, slot moved).',
);

interface Shard {
  readonly key: string;
  readonly redis: Redis;
  readonly generation: number;
}

export class RedisClusterTransport implements BusTransport {
  private readonly pub: Cluster;
  private readonly log: Logger;
  private readonly name: string;
  private readonly auth: Omit<ReturnType<typeof clusterNode>, 'host' | 'port'>;
  private readonly pingTimeoutMs: number;
  private readonly subscribeTimeoutMs: number;
  private readonly stateHandlers: Array<(state: TransportState) => void> = [];
  private readonly messageHandlers: Array<(channel: string, payload: string) => void> = [];
  /** Channels the bus wants, and the shard each is acknowledged on (undefined: not yet). */
  private readonly wanted = new Map<string, string | undefined>();
  private readonly shards = new Map<string, Shard>();
  /** Bumped by every heal: work begun on an older generation's connections is redone. */
  private generation = 0;
  private link: 'connecting' | TransportState = 'connecting';
  private healing: Promise<void> | undefined;
  private healAgain = false;
  private auditTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(options: RedisClusterTransportOptions) {
    this.name = options.connectionName ?? 'relay-chat-bus';
    this.log = options.logger;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 2000;
    this.subscribeTimeoutMs = options.subscribeTimeoutMs ?? 3000;
    const { host: _h, port: _p, ...auth } = clusterNode(options.nodes[0] ?? 'redis://127.0.0.1:6379');
    this.auth = auth;
    this.pub = createRedisClient(options.nodes, {
      connectionName: `${this.name}:pub`,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.publishTimeoutMs ?? 2000,
      enableAutoPipelining: true,
    }) as Cluster;
    let quiet = false;
    this.pub.on('error', (err: Error) => {
      if (quiet || this.closing) return;
      quiet = true;
      this.log.warn({ err: { message: err.message }, role: 'publisher' }, 'Redis Cluster bus error');
    });
    this.pub.on('ready', () => {
      quiet = false;
    });
    this.auditTimer = setInterval(() => this.audit(), options.auditIntervalMs ?? 1000);
    this.auditTimer.unref();
  }

  /** Waits until the cluster answers and the subscriber link is up; throws after `timeoutMs` (default 10 s). */
  async connect(timeoutMs = 10_000): Promise<void> {
    await whenReady(this.pub, timeoutMs);
    if (this.link === 'connecting') {
      await withDeadline(
        this.heal('connect'),
        timeoutMs,
        () => new Error(`Redis Cluster subscriber link timed out after ${timeoutMs} ms`),
      );
    }
  }

  async publish(channel: string, payload: string): Promise<void> {
    await this.pub.spublish(channel, payload);
  }

  async subscribe(channels: string[]): Promise<void> {
    for (const channel of channels) if (!this.wanted.has(channel)) this.wanted.set(channel, undefined);
    await Promise.all(channels.map((channel) => this.place(channel)));
  }

  async unsubscribe(channels: string[]): Promise<void> {
    const work: Promise<unknown>[] = [];
    for (const channel of channels) {
      const at = this.wanted.get(channel);
      this.wanted.delete(channel);
      const shard = at === undefined ? undefined : this.shards.get(at);
      // A broken connection is dropped by the next heal, taking its subscriptions along.
      if (shard) work.push(shard.redis.sunsubscribe(channel).catch(() => {}));
    }
    await Promise.all(work);
  }

  onMessage(handler: (channel: string, payload: string) => void): void {
    this.messageHandlers.push(handler);
  }

  onStateChange(handler: (state: TransportState) => void): void {
    this.stateHandlers.push(handler);
  }

  async ping(): Promise<void> {
    if (this.link !== 'up') throw new Error('Redis Cluster subscriber link is not up');
    await withDeadline(
      Promise.all([this.pub.ping(), ...[...this.shards.values()].map((s) => s.redis.ping())]),
      this.pingTimeoutMs,
      () => new Error(`Redis Cluster PING timed out after ${this.pingTimeoutMs} ms`),
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.auditTimer);
    const shards = [...this.shards.values()];
    this.shards.clear();
    await Promise.all([quit(this.pub), ...shards.map((s) => quit(s.redis))]);
  }

  /** Subscriber connections by master (`host:port`) and the channels on each: for tests and benchmarks. */
  placement(): Map<string, string[]> {
    const result = new Map<string, string[]>();
    for (const [channel, at] of this.wanted) {
      if (at === undefined) continue;
      result.set(at, [...(result.get(at) ?? []), channel]);
    }
    return result;
  }

  /** Subscribes `channel` at its slot's owner, redone after any heal that interleaves. */
  private async place(channel: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.closing) throw new Error('Redis Cluster transport is closed');
      if (this.healing) await this.healing.catch(() => {});
      if (!this.wanted.has(channel) || this.wanted.get(channel) !== undefined) return;
      const generation = this.generation;
      const owner = this.ownerOf(channel);
      try {
        if (owner === undefined) throw new Error('slot map not known yet');
        const shard = this.shardFor(owner);
        await this.ssubscribe(shard, [channel]);
        if (generation !== this.generation) continue; // a heal rebuilt everything meanwhile
        if (this.wanted.has(channel)) this.wanted.set(channel, owner);
        else await shard.redis.sunsubscribe(channel).catch(() => {});
        return;
      } catch (err) {
        if (generation === this.generation) this.startHeal(`subscribe failed: ${(err as Error).message}`);
        if (attempt > 50) throw err;
      }
    }
  }

  private ownerOf(channel: string): string | undefined {
    return this.pub.slots[keySlot(channel)]?.[0];
  }

  private shardFor(key: string): Shard {
    if (this.closing) throw new Error('Redis Cluster transport is closed');
    const existing = this.shards.get(key);
    if (existing) return existing;
    const [host, port] = splitNodeKey(key);
    const redis = new Redis({
      ...this.auth,
      host,
      port,
      connectionName: `${this.name}:sub:${key}`,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      // No reconnects of its own: a heal replaces the connection, placing channels anew.
      retryStrategy: () => null,
      connectTimeout: 2000,
    });
    const shard: Shard = { key, redis, generation: this.generation };
    this.shards.set(key, shard);
    const lost = (why: string) => {
      if (this.shards.get(key) === shard && !this.closing) this.startHeal(`${key}: ${why}`);
    };
    redis.on('smessage', (channel: string, payload: string) => {
      for (const handler of this.messageHandlers) handler(channel, payload);
    });
    redis.on('close', () => lost('connection closed'));
    redis.on('end', () => lost('connection ended'));
    // SSUBSCRIBE to a node that no longer owns the slot (ioredis leaves that command pending).
    redis.on('moved', () => lost('slot moved'));
    redis.on('error', (err: Error) => {
      // The server ends shard subscriptions when their slot moves: ioredis sees an
      // unsolicited `sunsubscribe` (a "command queue state error").
      if (err.message.includes('queue state')) lost('slot moved (server unsubscribed)');
    });
    return shard;
  }

  private async ssubscribe(shard: Shard, channels: string[]): Promise<void> {
    await withDeadline(
      shard.redis.ssubscribe(...channels),
      this.subscribeTimeoutMs,
      () => new Error(`SSUBSCRIBE on ${shard.key} timed out after ${this.subscribeTimeoutMs} ms`),
    );
  }

  private startHeal(reason: string): void {
    if (this.closing) return;
    if (this.healing) {
      this.healAgain = true;
      return;
    }
    this.heal(reason).catch(() => {});
  }

  /** Down, rebuild every subscription at its current owner (retrying), up. */
  private heal(reason: string): Promise<void> {
    if (this.healing) return this.healing;
    const run = (async () => {
      if (this.link === 'up') {
        this.link = 'down';
        heals.inc();
        this.log.warn({ reason }, 'Redis Cluster subscriptions lost; rebuilding');
        this.emit('down');
      }
      for (let attempt = 0; !this.closing; attempt++) {
        this.healAgain = false;
        try {
          await this.rebuild();
          if (this.healAgain) continue;
          break;
        } catch (err) {
          if (attempt % 10 === 0) {
            this.log.warn(
              { err: { message: (err as Error).message } },
              'Redis Cluster rebuild failed; retrying',
            );
          }
          await sleep(Math.min(100 * (attempt + 1), 1000));
        }
      }
      if (this.closing) return;
      this.link = 'up';
      this.emit('up');
    })();
    this.healing = run.finally(() => {
      this.healing = undefined;
    });
    return this.healing;
  }

  private async rebuild(): Promise<void> {
    this.generation++;
    const old = [...this.shards.values()];
    this.shards.clear();
    for (const shard of old) shard.redis.disconnect();
    for (const channel of this.wanted.keys()) this.wanted.set(channel, undefined);
    await new Promise<void>((resolve, reject) =>
      this.pub.refreshSlotsCache((err) => (err ? reject(err) : resolve())),
    );
    // Group by slot: one SSUBSCRIBE may name several channels only within one slot.
    const bySlot = new Map<number, string[]>();
    for (const channel of this.wanted.keys()) {
      const slot = keySlot(channel);
      bySlot.set(slot, [...(bySlot.get(slot) ?? []), channel]);
    }
    const placed: Array<[string, string]> = [];
    const work: Promise<void>[] = [];
    for (const [slot, channels] of bySlot) {
      const owner = this.pub.slots[slot]?.[0];
      if (owner === undefined) throw new Error(`no owner known for slot ${slot}`);
      const shard = this.shardFor(owner);
      work.push(
        this.ssubscribe(shard, channels).then(() => {
          for (const channel of channels) placed.push([channel, owner]);
        }),
      );
    }
    // Masters with no channel yet still get a connection when a channel of theirs comes.
    await Promise.all(work);
    for (const [channel, owner] of placed) {
      if (this.wanted.has(channel)) this.wanted.set(channel, owner);
      else
        this.shards
          .get(owner)
          ?.redis.sunsubscribe(channel)
          .catch(() => {});
    }
  }

  /** Heals when the client's slot map says a subscribed channel lives elsewhere. */
  private audit(): void {
    if (this.link !== 'up' || this.healing || this.closing) return;
    for (const [channel, at] of this.wanted) {
      if (at !== undefined && this.ownerOf(channel) !== at) {
        this.startHeal(`slot of ${channel} moved to ${this.ownerOf(channel)}`);
        return;
      }
    }
  }

  private emit(state: TransportState): void {
    for (const handler of this.stateHandlers) handler(state);
  }
}

function splitNodeKey(key: string): [string, number] {
  const i = key.lastIndexOf(':');
  return [key.slice(0, i), Number(key.slice(i + 1))];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = crc & 0xffff;
  }
  return table;
})();

/** The Redis Cluster hash slot of `key` (CRC16/XMODEM mod 16384, honouring `{hash tags}`). */
export function keySlot(key: string): number {
  let bytes = Buffer.from(key);
  const open = bytes.indexOf(0x7b); // {
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc % 16384;
}
