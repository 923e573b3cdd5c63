/**
 * openDatabase against a PostgreSQL that fails: a private server (never the shared one) is
 * stopped and frozen while queries run. Every failure must come back as `unavailable`
 * within the configured bounds, and the pool must work again once the server does.
 */
import {
  type PrivatePostgres,
  privatePostgresUnavailableReason,
  startPrivatePostgres,
} from '@relay-chat/testkit';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { envDatabaseLimits } from './config.js';
import { type OpenedDatabase, openDatabase } from './database.js';
import { type DatabaseLimits, DEFAULT_DATABASE_LIMITS } from './postgres-pool.js';
import { toServiceError } from './service-error.js';

const reason = privatePostgresUnavailableReason();
if (reason)
  console.warn(`\n!!! private PostgreSQL unavailable (${reason}): SKIPPING the database fault tests !!!\n`);

/** Runs `SELECT 1`; resolves with what a caller would see and how long it took. */
async function selectOne(db: OpenedDatabase<unknown>): Promise<{ outcome: string; ms: number }> {
  const started = performance.now();
  try {
    const result = await sql<{ one: number }>`SELECT 1 AS one`.execute(db.db);
    return { outcome: `ok ${result.rows[0]?.one}`, ms: performance.now() - started };
  } catch (err) {
    return { outcome: toServiceError(err).code, ms: performance.now() - started };
  }
}

describe('envDatabaseLimits', () => {
  it('defaults to the documented bounds', () => {
    expect(envDatabaseLimits({})).toEqual(DEFAULT_DATABASE_LIMITS);
    expect(DEFAULT_DATABASE_LIMITS).toEqual({
      acquireTimeoutMs: 500,
      queryTimeoutMs: 1400,
      statementTimeoutMs: 900,
      maxWaiting: 500,
    });
  });

  it('reads every variable and keeps the statement timeout below the query timeout', () => {
    expect(
      envDatabaseLimits({
        DB_ACQUIRE_TIMEOUT_MS: '500',
        DB_QUERY_TIMEOUT_MS: '800',
        DB_MAX_WAITING: '0',
      }),
    ).toEqual({ acquireTimeoutMs: 500, queryTimeoutMs: 800, statementTimeoutMs: 400, maxWaiting: 0 });
    expect(envDatabaseLimits({ DB_STATEMENT_TIMEOUT_MS: '0' }).statementTimeoutMs).toBe(0);
    expect(() => envDatabaseLimits({ DB_STATEMENT_TIMEOUT_MS: '1400' })).toThrow(
      'DB_STATEMENT_TIMEOUT_MS: must be below DB_QUERY_TIMEOUT_MS (1400), got 1400',
    );
    expect(() => envDatabaseLimits({ DB_ACQUIRE_TIMEOUT_MS: 'soon' })).toThrow('DB_ACQUIRE_TIMEOUT_MS');
  });
});

describe.skipIf(reason !== undefined)('openDatabase on a failing PostgreSQL', () => {
  let server: PrivatePostgres;
  let url: string;
  const opened: OpenedDatabase<unknown>[] = [];

  beforeAll(async () => {
    server = await startPrivatePostgres();
    url = await server.createDatabase('faults');
  }, 60_000);

  afterEach(async () => {
    server.thaw();
    if (!(await isUp())) await server.start();
    await Promise.all(opened.splice(0).map((db) => db.close().catch(() => {})));
  }, 30_000);

  afterAll(() => server?.remove(), 30_000);

  async function isUp(): Promise<boolean> {
    const probe = open({ acquireTimeoutMs: 1000 });
    return (await selectOne(probe)).outcome === 'ok 1';
  }

  function open(limits: Partial<DatabaseLimits> = {}, poolSize = 4): OpenedDatabase<unknown> {
    const db = openDatabase<unknown>(url, { poolSize, limits: { ...DEFAULT_DATABASE_LIMITS, ...limits } });
    opened.push(db);
    return db;
  }

  /** Opens `count` connections at once so that the pool holds them idle. */
  async function warm(db: OpenedDatabase<unknown>, count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, () => sql`SELECT pg_sleep(0.05)`.execute(db.db)));
  }

  it('answers unavailable at once when PostgreSQL refuses connections, and recovers after', async () => {
    const db = open();
    await warm(db, 4);
    await server.stop();
    for (let i = 0; i < 3; i++) {
      const { outcome, ms } = await selectOne(db);
      expect(outcome).toBe('unavailable');
      expect(ms).toBeLessThan(1000);
    }
    await server.start();
    expect((await selectOne(db)).outcome).toBe('ok 1');
  }, 30_000);

  it('answers unavailable within the query timeout when PostgreSQL freezes under open connections', async () => {
    const db = open(); // the default limits: 2 s to acquire, 3 s for an answer
    await warm(db, 4);
    server.freeze();
    const results = await Promise.all(Array.from({ length: 6 }, () => selectOne(db)));
    for (const { outcome, ms } of results) {
      expect(outcome).toBe('unavailable');
      expect(ms).toBeLessThan(DEFAULT_DATABASE_LIMITS.queryTimeoutMs + 600);
    }
    server.thaw();
    const after = await selectOne(db);
    expect(after.outcome).toBe('ok 1');
    expect(after.ms).toBeLessThan(1000);
  }, 30_000);

  it('answers unavailable within the acquire timeout when a frozen PostgreSQL cannot open a connection', async () => {
    const db = open();
    server.freeze();
    const { outcome, ms } = await selectOne(db);
    expect(outcome).toBe('unavailable');
    expect(ms).toBeGreaterThanOrEqual(DEFAULT_DATABASE_LIMITS.acquireTimeoutMs - 50);
    expect(ms).toBeLessThan(DEFAULT_DATABASE_LIMITS.acquireTimeoutMs + 600);
    server.thaw();
    expect((await selectOne(db)).outcome).toBe('ok 1');
  }, 30_000);

  it('refuses callers beyond the waiting bound at once instead of queueing them', async () => {
    const db = open({ maxWaiting: 3 }, 2);
    await warm(db, 2);
    server.freeze();
    const results = await Promise.all(Array.from({ length: 10 }, () => selectOne(db)));
    server.thaw();
    expect(results.map((r) => r.outcome)).toEqual(Array(10).fill('unavailable'));
    // 2 wait on the frozen connections, 3 in the queue, the other 5 are refused at once.
    const fast = results.filter((r) => r.ms < 200);
    expect(fast).toHaveLength(5);
  }, 30_000);

  it('discards a connection whose query timed out instead of handing it to the next caller', async () => {
    // One connection; the server would run the statement for 5 s, the client waits 300 ms.
    const db = open({ statementTimeoutMs: 0, queryTimeoutMs: 300 }, 1);
    const slow = await sql`SELECT pg_sleep(5)`.execute(db.db).then(
      () => 'answered',
      (err: unknown) => toServiceError(err).code,
    );
    expect(slow).toBe('unavailable');
    // Were the busy connection reused, this would queue behind pg_sleep and time out too.
    const next = await selectOne(db);
    expect(next.outcome).toBe('ok 1');
  }, 30_000);

  it('lets the server cancel a statement past its statement_timeout, and keeps that connection', async () => {
    const db = open({ statementTimeoutMs: 200, queryTimeoutMs: 2000 }, 1);
    const pids = new Set<number>();
    const pid = async () =>
      pids.add(
        (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(db.db)).rows[0]?.pid ?? -1,
      );
    await pid();
    const started = performance.now();
    const slow = await sql`SELECT pg_sleep(5)`.execute(db.db).then(
      () => 'answered',
      (err: unknown) => `${toServiceError(err).code} ${(err as { code?: string }).code}`,
    );
    expect(slow).toBe('unavailable 57014');
    expect(performance.now() - started).toBeLessThan(1000);
    await pid();
    expect(pids.size).toBe(1);
  }, 30_000);

  it('runs work without timeouts beside the bounded pool (migrations)', async () => {
    const db = open({ statementTimeoutMs: 100, queryTimeoutMs: 200 }, 1);
    const bounded = await sql`SELECT pg_sleep(0.4)`.execute(db.db).then(
      () => 'answered',
      (err: unknown) => toServiceError(err).code,
    );
    expect(bounded).toBe('unavailable');
    const result = await db.withoutTimeouts(async (unbounded) => {
      await sql`SELECT pg_sleep(0.4)`.execute(unbounded);
      return 'answered';
    });
    expect(result).toBe('answered');
  }, 30_000);
});
