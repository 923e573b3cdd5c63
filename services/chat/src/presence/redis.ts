import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { asUserId, ChatError, type PresenceStatus, type UserId } from '@relay-chat/protocol';
import { counter, type Logger } from '@relay-chat/service-kit';
import { quit, whenReady } from '../bus/redis.js';
import { createRedisClient, type RedisClient, type RedisTarget } from '../bus/redis-target.js';
import { DeviceCounts } from './device-counts.js';
import type { PresenceRegistry } from './presence-registry.js';

/**
 * Presence over Redis for scale-out. Keys, all under `${prefix}{presence}:` (one hash tag,
 * so the multi-key scripts stay valid on Redis Cluster):
 * - `user:<userId>`     hash replicaId → that replica's device count for the user
 * - `replica:<id>`      set of the users with a device on that replica
 * - `alive:<id>`        liveness, refreshed every `heartbeatIntervalMs`, expiring after `livenessTtlMs`
 * - `replicas`          set of registered replica ids
 * - `sweep:<id>`        lock (SET NX) so one replica sweeps a dead one
 *
 * A replica's local device counts are the truth for its own fields: scripts write the
 * absolute count (not an increment), so a write lost in a Redis outage is repaired by
 * rewriting them all (`resync`) — on reconnect, and whenever the heartbeat finds its
 * liveness key gone (Redis restarted, or the replica was presumed dead and swept).
 * Transitions found that way are reported through `onChange`.
 *
 * A crashed replica stops refreshing `alive:<id>`; within `livenessTtlMs + sweepIntervalMs`
 * (15 s by default, under the 30 s promise) another replica's sweeper removes its fields
 * and reports the users that went offline.
 */
export interface RedisPresenceOptions {
  /** One Redis URL, or a Redis Cluster's seed node URLs (every key shares the `{presence}` slot). */
  url: RedisTarget;
  /** Key prefix shared with the bus, e.g. `relay:`. */
  prefix: string;
  logger: Logger;
  /**
   * Label of this replica (default `<hostname>-<pid>`). A random suffix is always added: a
   * restarted container often has the same hostname and pid, and must not inherit the
   * entries of the incarnation that died (those are swept like any dead replica's).
   */
  replicaId?: string;
  /** Liveness key TTL in ms; default 10 000. */
  livenessTtlMs?: number;
  /** Liveness refresh period in ms; default 3 000 (well under the TTL). */
  heartbeatIntervalMs?: number;
  /** How often each replica looks for dead ones, in ms; default 5 000 (plus up to 20 % jitter). */
  sweepIntervalMs?: number;
  /** Users removed per sweep script call, so Redis is never blocked long; default 500. */
  sweepBatchSize?: number;
  /** `start()` fails when Redis is not ready within this many ms; default 10 000. */
  connectTimeoutMs?: number;
  /** A Redis command not answered within this many ms fails (a hung Redis never stalls heartbeats or `close()`); default 5 000. */
  commandTimeoutMs?: number;
}

const swept = counter('chat_presence_swept_users_total', 'Users taken offline because their replica died.');

/** → 1 became online, -1 went offline, 0 no cluster-wide change. */
const SET_COUNT = `
local count = tonumber(ARGV[3])
if count > 0 then
  local before = redis.call('HLEN', KEYS[1])
  redis.call('HSET', KEYS[1], ARGV[1], count)
  redis.call('SADD', KEYS[2], ARGV[2])
  if before == 0 then return 1 end
  return 0
end
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
if removed == 1 and redis.call('HLEN', KEYS[1]) == 0 then return -1 end
return 0`;

/** → 1 when the liveness key still existed (nothing was lost). */
const HEARTBEAT = `
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return existed`;

/**
 * Removes up to ARGV[2] users of replica ARGV[1]; unless forced (ARGV[4] = '1', own close)
 * only while it is dead, checked in the same atomic step, so a replica coming back is never
 * swept after its heartbeat. → {-1} alive again, else {done, users that went offline…}.
 */
const SWEEP = `
if ARGV[4] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
local users = redis.call('SPOP', KEYS[2], tonumber(ARGV[2]))
local result = {0}
for _, user in ipairs(users) do
  local key = ARGV[3] .. user
  if redis.call('HDEL', key, ARGV[1]) == 1 and redis.call('HLEN', key) == 0 then
    table.insert(result, user)
  end
end
if redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  if ARGV[4] == '1' then redis.call('DEL', KEYS[1]) end
  result[1] = 1
end
return result`;

interface PresenceCommands {
  presenceSetCount(
    userKey: string,
    usersKey: string,
    replicaId: string,
    userId: string,
    count: number,
  ): Promise<number>;
  presenceHeartbeat(aliveKey: string, replicasKey: string, ttlMs: number, replicaId: string): Promise<number>;
  presenceSweep(
    aliveKey: string,
    usersKey: string,
    replicasKey: string,
    replicaId: string,
    batch: number,
    userKeyPrefix: string,
    force: '0' | '1',
  ): Promise<Array<number | string>>;
}

export class RedisPresence implements PresenceRegistry {
  readonly replicaId: string;
  private readonly redis: RedisClient & PresenceCommands;
  private readonly log: Logger;
  private readonly keys: string;
  private readonly devices = new DeviceCounts();
  private readonly handlers: Array<(userId: UserId, status: PresenceStatus) => void> = [];
  private readonly livenessTtlMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly sweepIntervalMs: number;
  private readonly sweepBatchSize: number;
  private readonly connectTimeoutMs: number;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** The running heartbeat or sweep, awaited by `close()`. */
  private busy: Promise<void> = Promise.resolve();
  private needsResync = false;
  private started = false;
  private closed = false;

  constructor(options: RedisPresenceOptions) {
    const label = options.replicaId ?? `${hostname()}-${process.pid}`;
    this.replicaId = `${label}:${randomBytes(4).toString('hex')}`;
    this.log = options.logger;
    this.keys = `${options.prefix}{presence}:`;
    this.livenessTtlMs = options.livenessTtlMs ?? 10_000;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 3_000;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 5_000;
    this.sweepBatchSize = options.sweepBatchSize ?? 500;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    // Fail fast while Redis is down: local counts stay the truth and a resync repairs Redis.
    this.redis = createRedisClient(options.url, {
      // CLIENT SETNAME refuses spaces; the name shows which replica a connection belongs to.
      connectionName: `relay-chat-presence:${this.replicaId.replace(/[^\w.:-]/g, '_')}`,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      enableAutoPipelining: true,
      commandTimeout: options.commandTimeoutMs ?? 5_000,
      lazyConnect: true,
    }) as RedisClient & PresenceCommands;
    this.redis.defineCommand('presenceSetCount', { numberOfKeys: 2, lua: SET_COUNT });
    this.redis.defineCommand('presenceHeartbeat', { numberOfKeys: 2, lua: HEARTBEAT });
    this.redis.defineCommand('presenceSweep', { numberOfKeys: 3, lua: SWEEP });
    let quiet = false;
    this.redis.on('error', (err: Error) => {
      if (quiet || this.closed) return;
      quiet = true;
      this.log.warn({ err: { message: err.message } }, 'Redis presence connection error');
    });
    this.redis.on('close', () => {
      this.needsResync = true;
    });
    this.redis.on('ready', () => {
      quiet = false;
      if (this.started && !this.closed) this.runExclusive(() => this.heartbeat());
    });
  }

  async start(): Promise<void> {
    this.redis.connect().catch(() => {
      // ioredis keeps retrying; whenReady below bounds the wait.
    });
    try {
      await whenReady(this.redis, this.connectTimeoutMs);
    } catch (err) {
      this.redis.disconnect();
      throw err;
    }
    await this.heartbeat();
    this.started = true;
    this.heartbeatTimer = setInterval(
      () => this.runExclusive(() => this.heartbeat()),
      this.heartbeatIntervalMs,
    );
    this.heartbeatTimer.unref();
    this.scheduleSweep();
  }

  async connect(userId: UserId): Promise<boolean> {
    this.assertStarted();
    if (this.closed) return false;
    return (await this.write(userId, this.devices.add(userId))) === 1;
  }

  async disconnect(userId: UserId): Promise<boolean> {
    this.assertStarted();
    if (this.closed || this.devices.get(userId) === 0) return false;
    return (await this.write(userId, this.devices.remove(userId))) === -1;
  }

  async onlineAmong(userIds: readonly UserId[]): Promise<Set<UserId>> {
    if (userIds.length === 0) return new Set();
    let replies: Array<[Error | null, unknown]> | null;
    try {
      replies = await this.redis.pipeline(userIds.map((id) => ['exists', this.userKey(id)])).exec();
    } catch (err) {
      throw new ChatError('unavailable', 'Presence is unavailable.', { cause: err });
    }
    const online = new Set<UserId>();
    replies?.forEach(([err, exists], i) => {
      if (err) throw new ChatError('unavailable', 'Presence is unavailable.', { cause: err });
      if (exists === 1) online.add(userIds[i]!);
    });
    return online;
  }

  onChange(handler: (userId: UserId, status: PresenceStatus) => void): void {
    this.handlers.push(handler);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.sweepTimer);
    await this.busy;
    if (this.started) {
      try {
        for (;;) {
          const reply = await this.sweepOnce(this.replicaId, '1');
          if (reply.done) break;
        }
      } catch (err) {
        // Our liveness key expires and another replica's sweeper takes over.
        this.log.warn({ err: { message: (err as Error).message } }, 'presence cleanup on close failed');
      }
    }
    this.devices.clear();
    await quit(this.redis);
  }

  /** Mirrors one user's local count to Redis; on failure Redis is repaired by the next resync. */
  private async write(userId: UserId, count: number): Promise<number> {
    try {
      return await this.redis.presenceSetCount(
        this.userKey(userId),
        this.usersKey(this.replicaId),
        this.replicaId,
        userId,
        count,
      );
    } catch (err) {
      this.needsResync = true;
      this.log.warn({ err: { message: (err as Error).message } }, 'presence write failed; will resync');
      return 0;
    }
  }

  private async heartbeat(): Promise<void> {
    try {
      const existed = await this.redis.presenceHeartbeat(
        this.aliveKey(this.replicaId),
        `${this.keys}replicas`,
        this.livenessTtlMs,
        this.replicaId,
      );
      if (existed === 0 || this.needsResync) await this.resync();
    } catch (err) {
      this.needsResync = true;
      this.log.warn({ err: { message: (err as Error).message } }, 'presence heartbeat failed');
    }
  }

  /** Rewrites every entry of this replica from the local counts and reports what that changed. */
  private async resync(): Promise<void> {
    this.needsResync = false;
    const inRedis = await this.redis.smembers(this.usersKey(this.replicaId));
    const users = new Set<UserId>([...this.devices.users(), ...inRedis.map(asUserId)]);
    const writes = [...users].map(async (userId) => {
      const change = await this.redis.presenceSetCount(
        this.userKey(userId),
        this.usersKey(this.replicaId),
        this.replicaId,
        userId,
        this.devices.get(userId),
      );
      if (change !== 0) this.emit(userId, change === 1 ? 'online' : 'offline');
    });
    const results = await Promise.allSettled(writes);
    if (results.some((r) => r.status === 'rejected')) this.needsResync = true;
    if (users.size > 0) this.log.info({ users: users.size }, 'presence resynchronised');
  }

  private scheduleSweep(): void {
    if (this.closed) return;
    const delayMs = this.sweepIntervalMs * (1 + Math.random() * 0.2);
    this.sweepTimer = setTimeout(() => {
      this.runExclusive(() => this.sweepDead());
      this.busy.finally(() => this.scheduleSweep());
    }, delayMs);
    this.sweepTimer.unref();
  }

  /** Finds replicas whose liveness expired and, holding their lock, sweeps them. */
  private async sweepDead(): Promise<void> {
    try {
      const replicas = (await this.redis.smembers(`${this.keys}replicas`)).filter(
        (id) => id !== this.replicaId,
      );
      for (const id of replicas) {
        if (this.closed) return;
        if ((await this.redis.exists(this.aliveKey(id))) === 1) continue;
        const lockKey = `${this.keys}sweep:${id}`;
        const lockMs = Math.max(2 * this.sweepIntervalMs, 10_000);
        if ((await this.redis.set(lockKey, this.replicaId, 'PX', lockMs, 'NX')) === null) continue;
        let offline = 0;
        for (;;) {
          const reply = await this.sweepOnce(id, '0');
          offline += reply.offline.length;
          if (reply.done) break;
        }
        await this.redis.del(lockKey);
        swept.inc(offline);
        this.log.info({ replica: id, offline }, 'swept a dead replica’s presence');
      }
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'presence sweep failed');
    }
  }

  private async sweepOnce(
    replicaId: string,
    force: '0' | '1',
  ): Promise<{ done: boolean; offline: UserId[] }> {
    const reply = await this.redis.presenceSweep(
      this.aliveKey(replicaId),
      this.usersKey(replicaId),
      `${this.keys}replicas`,
      replicaId,
      this.sweepBatchSize,
      `${this.keys}user:`,
      force,
    );
    const [flag, ...users] = reply;
    const offline = users.map((user) => asUserId(String(user)));
    for (const userId of offline) this.emit(userId, 'offline');
    return { done: flag !== 0, offline };
  }

  /** Heartbeats and sweeps never overlap, and `close()` waits for the one running. */
  private runExclusive(task: () => Promise<void>): void {
    this.busy = this.busy
      .then(() => (this.closed ? undefined : task()))
      .catch((err: unknown) => this.log.error({ err }, 'presence background task failed'));
  }

  private emit(userId: UserId, status: PresenceStatus): void {
    for (const handler of this.handlers) {
      try {
        handler(userId, status);
      } catch (err) {
        this.log.error({ err }, 'presence change handler threw');
      }
    }
  }

  private assertStarted(): void {
    if (!this.started) throw new Error('RedisPresence.start() must be called before connect/disconnect');
  }

  private userKey(userId: UserId): string {
    return `${this.keys}user:${userId}`;
  }

  private usersKey(replicaId: string): string {
    return `${this.keys}replica:${replicaId}`;
  }

  private aliveKey(replicaId: string): string {
    return `${this.keys}alive:${replicaId}`;
  }
}
