import { asUserId } from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import {
  cleanRedisPrefix,
  freePort,
  REDIS_TEST_URL,
  redisAvailable,
  redisTestPrefix,
  waitFor,
} from '@relay-chat/testkit';
import { describe, expect, it } from 'vitest';
import { createBus } from './factory.js';

const logger = createLogger({ name: 'bus-test', level: 'silent' });
const withRedis = await redisAvailable();

describe('createBus', () => {
  it('runs in process when no Redis URL is configured', async () => {
    const runtime = await createBus(undefined, 'relay:', logger, { replicaId: 'embedded' });
    expect(runtime.mode).toBe('memory');
    const got: string[] = [];
    await runtime.bus.subscribe('user:u1', (payload) => got.push(payload)).ready;
    await runtime.bus.publish('user:u1', 'hello');
    await waitFor(() => got.length === 1, { what: 'in-process delivery' });
    expect(await runtime.presence.connect(asUserId('u1'))).toBe(true);
    await runtime.close();
  });

  it.skipIf(!withRedis)('runs over Redis when a URL is configured', async () => {
    const prefix = redisTestPrefix('factory');
    const runtime = await createBus(REDIS_TEST_URL, prefix, logger, { replicaId: 'replica 1' });
    try {
      expect(runtime.mode).toBe('redis');
      await expect(runtime.bus.ready()).resolves.toBeUndefined();
      const got: string[] = [];
      await runtime.bus.subscribe('user:u1', (payload) => got.push(payload)).ready;
      await runtime.bus.publish('user:u1', 'hello');
      await waitFor(() => got.length === 1, { what: 'delivery through Redis' });
      expect(await runtime.presence.connect(asUserId('u1'))).toBe(true);
      expect(await runtime.presence.onlineAmong([asUserId('u1'), asUserId('u2')])).toEqual(new Set(['u1']));
    } finally {
      await runtime.close();
      await cleanRedisPrefix(prefix);
    }
  });

  it('fails to start with the cause when Redis does not answer in time', async () => {
    const port = await freePort();
    await expect(
      createBus(`redis://127.0.0.1:${port}`, 'relay:', logger, { connectTimeoutMs: 300 }),
    ).rejects.toThrow(/not ready|timed out/);
  });
});
