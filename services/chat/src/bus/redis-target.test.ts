import { ConfigError } from '@relay-chat/service-kit';
import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { loadChatConfig } from '../config.js';
import { keySlot } from './redis-cluster.js';
import { clusterNode, createRedisClient, describeRedisTarget } from './redis-target.js';

describe('Redis targets', () => {
  it('reads REDIS_CLUSTER_NODES as seed URLs, host:port or redis:// alike', () => {
    const config = loadChatConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis://u:p%40ss@10.0.0.2:7001' });
    expect(config.redisUrl).toEqual(['redis://10.0.0.1:7000', 'redis://u:p%40ss@10.0.0.2:7001']);
    expect(loadChatConfig({ REDIS_URL: 'redis://r:6379' }).redisUrl).toBe('redis://r:6379');
    expect(loadChatConfig({}).redisUrl).toBeUndefined();
    // An empty REDIS_URL (a compose override) counts as unset.
    expect(loadChatConfig({ REDIS_URL: '', REDIS_CLUSTER_NODES: 'a:1' }).redisUrl).toEqual(['redis://a:1']);
  });

  it('refuses REDIS_URL and REDIS_CLUSTER_NODES together, and seeds without a port', () => {
    expect(() => loadChatConfig({ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'a:1' })).toThrow(
      ConfigError,
    );
    expect(() => loadChatConfig({ REDIS_CLUSTER_NODES: 'just-a-host' })).toThrow(/REDIS_CLUSTER_NODES/);
    expect(() => loadChatConfig({ REDIS_CLUSTER_NODES: 'http://a:1' })).toThrow(/REDIS_CLUSTER_NODES/);
  });

  it('makes a Cluster client for a list and a Redis client for a URL, credentials on every node', () => {
    const single = createRedisClient('redis://127.0.0.1:1', { lazyConnect: true });
    expect(single).toBeInstanceOf(Redis);
    const cluster = createRedisClient(['redis://u:p%40ss@127.0.0.1:1', 'redis://127.0.0.1:2'], {
      lazyConnect: true,
      connectionName: 'x',
    }) as Cluster;
    expect(cluster).toBeInstanceOf(Cluster);
    expect(cluster.options.redisOptions).toMatchObject({
      username: 'u',
      password: 'p@ss',
      connectionName: 'x',
    });
    expect(clusterNode('rediss://h:7')).toMatchObject({ host: 'h', port: 7, tls: {} });
    expect(describeRedisTarget(['redis://u:p@h:1'])).toBe('cluster redis://***@h:1');
    single.disconnect();
    cluster.disconnect();
  });

  it('computes hash slots as Redis does (CRC16 mod 16384, hash tags)', () => {
    // Reference values from CLUSTER KEYSLOT on Redis 7.0.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('bar')).toBe(5061);
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('relay:{presence}:user:a')).toBe(keySlot('presence'));
    expect(keySlot('a{}b')).not.toBe(keySlot(''));
  });
});
