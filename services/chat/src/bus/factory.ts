import type { Logger } from '@relay-chat/service-kit';
import { MemoryPresence } from '../presence/memory.js';
import type { PresenceRegistry } from '../presence/presence-registry.js';
import { RedisPresence, type RedisPresenceOptions } from '../presence/redis.js';
import { Bus } from './bus.js';
import { MemoryTransport } from './memory.js';
import { RedisTransport } from './redis.js';
import { RedisClusterTransport } from './redis-cluster.js';
import { isClusterTarget, type RedisTarget } from './redis-target.js';

export interface BusRuntime {
  bus: Bus;
  /** Started: ready for `connect`. */
  presence: PresenceRegistry;
  /** `memory` in embedded mode (no Redis URL), `redis` / `redis-cluster` when scaled out. */
  mode: 'memory' | 'redis' | 'redis-cluster';
  /** Closes presence first (its `onChange` may still publish on the bus), then the bus. */
  close(): Promise<void>;
}

/** Options of `createBus`; presence defaults as documented on `RedisPresenceOptions`. */
export type CreateBusOptions = Pick<
  RedisPresenceOptions,
  'replicaId' | 'livenessTtlMs' | 'heartbeatIntervalMs' | 'sweepIntervalMs' | 'connectTimeoutMs'
>;

/**
 * The bus and presence registry of one gateway process, connected and started: in-process
 * when `redisUrl` is undefined (embedded mode, one process), Redis pub/sub and Redis
 * presence for one URL, sharded pub/sub and presence on a Redis Cluster for a list of
 * seed node URLs. Broker channels and presence keys live under `prefix`.
 * `replicaId` labels this process in presence keys and logs. Rejects when Redis is not
 * ready within `connectTimeoutMs` (default 10 s), having closed what it opened.
 */
export async function createBus(
  redisUrl: RedisTarget | undefined,
  prefix: string,
  logger: Logger,
  options: CreateBusOptions = {},
): Promise<BusRuntime> {
  if (redisUrl === undefined) {
    const bus = new Bus({ transport: new MemoryTransport(), prefix, logger });
    const presence = new MemoryPresence();
    await presence.start();
    return { bus, presence, mode: 'memory', close: () => closeBoth(bus, presence) };
  }
  // Named after the key prefix and the replica, so operators (and fault tests) can tell
  // one deployment's and one replica's connections apart in CLIENT LIST.
  const connectionName = `relay-chat:${prefix}${options.replicaId ?? process.pid}`.replace(/\s/g, '_');
  const cluster = isClusterTarget(redisUrl);
  const transport = cluster
    ? new RedisClusterTransport({ nodes: redisUrl, logger, connectionName })
    : new RedisTransport({ url: redisUrl, logger, connectionName });
  const bus = new Bus({ transport, prefix, logger });
  const presence = new RedisPresence({ url: redisUrl, prefix, logger, ...options });
  try {
    await Promise.all([transport.connect(options.connectTimeoutMs), presence.start()]);
  } catch (err) {
    await closeBoth(bus, presence).catch(() => {});
    throw err;
  }
  const mode = cluster ? 'redis-cluster' : 'redis';
  return { bus, presence, mode, close: () => closeBoth(bus, presence) };
}

async function closeBoth(bus: Bus, presence: PresenceRegistry): Promise<void> {
  try {
    await presence.close();
  } finally {
    await bus.close();
  }
}
