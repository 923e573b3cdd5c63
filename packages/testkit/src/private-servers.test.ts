import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PrivatePostgres,
  type PrivateRedis,
  privatePostgresUnavailableReason,
  privateRedisUnavailableReason,
  startPrivatePostgres,
  startPrivateRedis,
} from './index.js';

async function pgQuery(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000, query_timeout: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const result = await client.query<{ one: number }>('SELECT 1 AS one');
    return `ok ${result.rows[0]?.one}`;
  } catch (err) {
    return `failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  } finally {
    await client.end().catch(() => {});
  }
}

const pgReason = privatePostgresUnavailableReason();
if (pgReason) console.warn(`\n!!! private PostgreSQL unavailable (${pgReason}): SKIPPING !!!\n`);

describe.skipIf(pgReason !== undefined)('a private PostgreSQL', () => {
  let server: PrivatePostgres;
  beforeAll(async () => {
    server = await startPrivatePostgres();
  }, 60_000);
  afterAll(() => server?.remove(), 30_000);

  it('answers on its own port, not the shared one', async () => {
    expect(server.port).not.toBe(5432);
    expect(await pgQuery(server.url)).toBe('ok 1');
    expect(await pgQuery(await server.createDatabase('extra'))).toBe('ok 1');
  });

  it('refuses connections when stopped and answers again after a start', async () => {
    await server.stop();
    expect(await pgQuery(server.url)).toBe('failed: ECONNREFUSED');
    await server.start();
    expect(await pgQuery(server.url)).toBe('ok 1');
  }, 30_000);

  it('leaves an open connection unanswered while frozen, and answers again when thawed', async () => {
    const client = new pg.Client({ connectionString: server.url, query_timeout: 500 });
    client.on('error', () => {});
    await client.connect();
    server.freeze();
    try {
      await expect(client.query('SELECT 2 AS two')).rejects.toThrow('Query read timeout');
      expect(await pgQuery(server.url)).toMatch(/^failed: /);
    } finally {
      server.thaw();
      client.end().catch(() => {});
    }
    expect(await pgQuery(server.url)).toBe('ok 1');
  });
});

const redisReason = privateRedisUnavailableReason();
if (redisReason) console.warn(`\n!!! private Redis unavailable (${redisReason}): SKIPPING !!!\n`);

describe.skipIf(redisReason !== undefined)('a private Redis', () => {
  let server: PrivateRedis;
  beforeAll(async () => {
    server = await startPrivateRedis();
  });
  afterAll(() => server?.remove());

  async function ping(): Promise<string> {
    const redis = new Redis(server.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    // connect() rejects with "Connection is closed."; the cause comes as an error event.
    let cause: NodeJS.ErrnoException | undefined;
    redis.on('error', (err: NodeJS.ErrnoException) => {
      cause ??= err;
    });
    try {
      await redis.connect();
      return await redis.ping();
    } catch (err) {
      return `failed: ${(cause ?? (err as NodeJS.ErrnoException)).code ?? (err as Error).message}`;
    } finally {
      redis.disconnect();
    }
  }

  it('answers on its own port, refuses when stopped, answers again after a restart', async () => {
    expect(server.port).not.toBe(6379);
    expect(await ping()).toBe('PONG');
    await server.stop();
    expect(await ping()).toBe('failed: ECONNREFUSED');
    await server.start();
    expect(await ping()).toBe('PONG');
    await server.restart();
    expect(await ping()).toBe('PONG');
  });

  it('keeps a connection open but silent while paused, and answers it when resumed', async () => {
    const redis = new Redis(server.url, { commandTimeout: 300 });
    await redis.ping();
    server.pause();
    try {
      await expect(redis.ping()).rejects.toThrow('Command timed out');
    } finally {
      server.resume();
    }
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();
  });
});
