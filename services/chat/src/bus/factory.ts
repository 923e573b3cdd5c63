import type { Logger } from '@relay-chat/service-kit';
import { Bus } from './bus.js';
import { MemoryTransport } from './memory.js';
import { MemoryPresence, type PresenceRegistry } from './presence.js';
import { RedisTransport } from './redis.js';
import { RedisPresence, type RedisPresenceOptions } from './redis-presence.js';

export interface BusRuntime {
  bus: Bus;
  /** Call `presence.start()` before the first `connect` (it waits for Redis, bounded by `connectTimeoutMs`). */
  presence: PresenceRegistry;
  /** `memory` in embedded mode (no Redis URL), `redis` when scaled out. */
  mode: 'memory' | 'redis';
  /** Closes presence first (its `onChange` may still publish on the bus), then the bus. */
  close(): Promise<void>;
}

/** Presence tuning for tests and operators; defaults as documented on `RedisPresenceOptions`. */
export type PresenceTuning = Pick<
  RedisPresenceOptions,
  'livenessTtlMs' | 'heartbeatIntervalMs' | 'sweepIntervalMs' | 'connectTimeoutMs'
>;

/**
 * The bus and presence registry of one gateway process: in-process when `redisUrl` is
 * undefined (embedded mode, one process), Redis pub/sub and Redis presence otherwise.
 * Broker channels and presence keys live under `prefix`. `replicaId` labels this process
 * in presence keys and logs (a random suffix keeps each incarnation unique). The Redis
 * connections open in the background; until they are up, publishing fails fast and
 * subscriptions wait.
 */
export function createBus(
  redisUrl: string | undefined,
  prefix: string,
  logger: Logger,
  replicaId?: string,
  tuning: PresenceTuning = {},
): BusRuntime {
  if (redisUrl === undefined) {
    const bus = new Bus({ transport: new MemoryTransport(), prefix, logger });
    const presence = new MemoryPresence();
    return { bus, presence, mode: 'memory', close: () => closeBoth(bus, presence) };
  }
  const transport = new RedisTransport({ url: redisUrl, logger });
  const bus = new Bus({ transport, prefix, logger });
  const presence = new RedisPresence({ url: redisUrl, prefix, logger, replicaId, ...tuning });
  return { bus, presence, mode: 'redis', close: () => closeBoth(bus, presence) };
}

async function closeBoth(bus: Bus, presence: PresenceRegistry): Promise<void> {
  try {
    await presence.close();
  } finally {
    await bus.close();
  }
}
