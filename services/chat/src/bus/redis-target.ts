import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/**
 * Where the deployment's Redis is: one instance (`redis://…` URL, REDIS_URL) or a Redis
 * Cluster (its seed node URLs, REDIS_CLUSTER_NODES). Bus, presence and budgets all take one.
 */
export type RedisTarget = string | readonly string[];

/** A client of either kind: both speak the same commands (presence and budgets keep their keys in one slot). */
export type RedisClient = Redis | Cluster;

export function isClusterTarget(target: RedisTarget): target is readonly string[] {
  return typeof target !== 'string';
}

/** Host, port and credentials of one seed URL (`redis://[user:password@]host:port`, `rediss://` for TLS). */
export function clusterNode(
  url: string,
): { host: string; port: number } & Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * A client for `target` with `options` for every connection. For a cluster, the
 * connection options go to each node's connection, `clusterOptions` to the cluster
 * client (the seed URLs' credentials and TLS apply to every node).
 */
export function createRedisClient(
  target: RedisTarget,
  options: RedisOptions,
  clusterOptions: ClusterOptions = {},
): RedisClient {
  if (!isClusterTarget(target)) return new Redis(target, options);
  if (target.length === 0) throw new Error('A Redis Cluster needs at least one seed node');
  const seeds = target.map(clusterNode);
  const { host: _h, port: _p, ...auth } = seeds[0]!;
  const { enableOfflineQueue, enableAutoPipelining, lazyConnect, ...perNode } = options;
  return new Cluster(
    seeds.map(({ host, port }) => ({ host, port })),
    {
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
      ...(lazyConnect === undefined ? {} : { lazyConnect }),
      // A failover or slot move answers MOVED / CLUSTERDOWN / connection refused for a
      // moment: retry shortly instead of failing, within each command's own timeout.
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnMoved: 0,
      slotsRefreshTimeout: 2000,
      ...clusterOptions,
      redisOptions: { ...auth, ...perNode, ...clusterOptions.redisOptions },
    },
  );
}

/** Display form of a target for logs (credentials hidden). */
export function describeRedisTarget(target: RedisTarget): string {
  const redact = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');
  return isClusterTarget(target) ? `cluster ${target.map(redact).join(',')}` : redact(target);
}
