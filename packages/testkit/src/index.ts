/**
 * Test support shared by every package's tests: real PostgreSQL and Redis, never fakes.
 *
 * Each test run gets its own PostgreSQL database (dropped afterwards) and its own Redis
 * key/channel prefix, so concurrent runs never collide. When a server is unreachable the
 * suites that need it are skipped with a loud notice — except under CI=true, where an
 * unreachable server is a failure.
 *
 * Fault tests that stop, freeze or restart a server start a private one instead
 * (startPrivatePostgres, startPrivateRedis): the shared servers are never touched.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { privatePostgresUnavailableReason } from './private-postgres.js';
import { privateRedisUnavailableReason } from './private-redis.js';

export { freePort } from './ports.js';
export {
  POSTGRES_BIN_DIR,
  type PrivatePostgres,
  type PrivatePostgresOptions,
  privatePostgresUnavailableReason,
  startPrivatePostgres,
} from './private-postgres.js';
export {
  type PrivateRedis,
  privateRedisUnavailableReason,
  startPrivateRedis,
} from './private-redis.js';
export {
  type ClusterNodeInfo,
  type PrivateRedisCluster,
  type PrivateRedisClusterNode,
  type PrivateRedisClusterOptions,
  startPrivateRedisCluster,
} from './private-redis-cluster.js';
export { seeded } from './seeded.js';
export { waitFor } from './wait-for.js';

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_TEST_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const IN_CI = process.env.CI === 'true';

let pgProbe: Promise<boolean> | undefined;
let redisProbe: Promise<boolean> | undefined;

async function probe(name: string, check: () => Promise<void>): Promise<boolean> {
  try {
    await check();
    return true;
  } catch (err) {
    const message = `${name} is unreachable (${(err as Error).message})`;
    if (IN_CI) throw new Error(`${message}: CI=true requires it`);
    console.warn(`\n!!! ${message}: SKIPPING the suites that need it !!!\n`);
    return false;
  }
}

/** Whether the local PostgreSQL answers; throws under CI=true when it does not. */
export function pgAvailable(): Promise<boolean> {
  pgProbe ??= probe(`PostgreSQL at ${redact(PG_ADMIN_URL)}`, async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.query('select 1');
    await client.end();
  });
  return pgProbe;
}

/** Whether the local Redis answers; throws under CI=true when it does not. */
export function redisAvailable(): Promise<boolean> {
  redisProbe ??= probe(`Redis at ${REDIS_TEST_URL}`, async () => {
    const redis = new Redis(REDIS_TEST_URL, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 3000,
    });
    try {
      await redis.connect();
      await redis.ping();
    } finally {
      redis.disconnect();
    }
  });
  return redisProbe;
}

export interface TestDatabase {
  /** Connection URL of the fresh database. */
  url: string;
  name: string;
  /** Drops the database, ending any connections still open to it. */
  drop(): Promise<void>;
}

/** Creates a fresh, empty PostgreSQL database for one suite. */
export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const name = `relay_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(5).toString('hex')}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A unique Redis key/channel prefix for one suite. */
export function redisTestPrefix(label = 'test'): string {
  return `relaytest:${label}:${randomBytes(4).toString('hex')}:`;
}

/** Removes every key under a prefix (SCAN, never KEYS). */
export async function cleanRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_TEST_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * Whether private PostgreSQL and Redis servers can run here (see private-postgres.ts and
 * private-redis.ts). Missing → false with a loud notice, except under CI=true, where it is
 * a failure — as for the shared servers.
 */
export function privateServersAvailable(): boolean {
  const reasons = [privatePostgresUnavailableReason(), privateRedisUnavailableReason()].filter(
    (r): r is string => r !== undefined,
  );
  if (reasons.length === 0) return true;
  const message = `private servers cannot run here (${reasons.join('; ')})`;
  if (IN_CI) throw new Error(`${message}: CI=true requires them`);
  console.warn(`\n!!! ${message}: SKIPPING the suites that need them !!!\n`);
  return false;
}
