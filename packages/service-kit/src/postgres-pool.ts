import { createHash } from 'node:crypto';
import { ChatError } from '@relay-chat/protocol';
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import pg from 'pg';

/**
 * Bounds on every wait for PostgreSQL, so that a database that refuses, drops or freezes
 * its connections costs a caller at most about one of these, never an open-ended hang.
 * Read from the environment by envDatabaseLimits; docs/deployment.md lists the variables.
 */
export interface DatabaseLimits {
  /** Longest wait for a pooled connection, opening one included, ms (DB_ACQUIRE_TIMEOUT_MS). */
  acquireTimeoutMs: number;
  /**
   * Longest wait for one query's answer, ms (DB_QUERY_TIMEOUT_MS). Past it the query fails
   * and its connection is discarded, never handed to the next caller.
   */
  queryTimeoutMs: number;
  /**
   * The server's `statement_timeout`, ms; 0 = none (DB_STATEMENT_TIMEOUT_MS). Below
   * queryTimeoutMs, so that a slow but live server cancels the statement itself and the
   * connection stays usable; the client-side limit is for a server that cannot answer at all.
   */
  statementTimeoutMs: number;
  /** Most callers waiting for a connection; one more fails at once with `unavailable` (DB_MAX_WAITING). */
  maxWaiting: number;
}

// A request may wait for a connection and then a query: together under the 2 s within which
// every request gets an answer (a typed `unavailable` when the database cannot give one).
export const DEFAULT_DATABASE_LIMITS: Readonly<DatabaseLimits> = Object.freeze({
  acquireTimeoutMs: 500,
  queryTimeoutMs: 1400,
  statementTimeoutMs: 900,
  maxWaiting: 500,
});

/** No limits at all: for migrations, whose statements may legitimately run for minutes. */
export const UNBOUNDED_DATABASE_LIMITS: Readonly<DatabaseLimits> = Object.freeze({
  acquireTimeoutMs: 0,
  queryTimeoutMs: 0,
  statementTimeoutMs: 0,
  maxWaiting: Number.POSITIVE_INFINITY,
});

/**
 * The comment that opens the text of a statement to prepare: a connection parses it (and
 * PostgreSQL plans it, generically once the plan is known to suit) once, then sends only its
 * name and parameters. For a few big statements run very often with their values bound, never
 * inlined (the append batch: its parse and plan cost PostgreSQL about as much as running
 * it). Each distinct text stays prepared on each connection for the connection's life.
 */
export const PREPARE = '/* prepare */ ';

/** Statement names by text, for the texts that start with PREPARE (a handful). */
const preparedNames = new Map<string, string>();

/** The name of a statement to prepare: its text's hash, so one text has one name everywhere. */
export function preparedName(text: string): string {
  let name = preparedNames.get(text);
  if (name === undefined) {
    name = `rc_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;
    // A handful of texts are expected; a caller that builds them from values must not grow this without end.
    if (preparedNames.size >= 1000) preparedNames.clear();
    preparedNames.set(text, name);
  }
  return name;
}

/**
 * A node-postgres pool for Kysely whose waits are bounded (DatabaseLimits) and which never
 * returns a connection that failed at the connection level (timed out, reset, terminated)
 * to the pool: a frozen server's connection would otherwise hang the next caller too.
 */
export class BoundedPool implements PostgresPool {
  readonly #pool: pg.Pool;
  readonly #maxWaiting: number;
  readonly #clients = new WeakMap<pg.PoolClient, GuardedClient>();
  #ended: Promise<void> | undefined;

  constructor(url: string, options: { poolSize: number; limits: Readonly<DatabaseLimits> }) {
    const { limits } = options;
    this.#maxWaiting = limits.maxWaiting;
    this.#pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize,
      connectionTimeoutMillis: limits.acquireTimeoutMs,
      ...(limits.queryTimeoutMs > 0 ? { query_timeout: limits.queryTimeoutMs } : {}),
      ...(limits.statementTimeoutMs > 0 ? { statement_timeout: limits.statementTimeoutMs } : {}),
      keepAlive: true,
      // Opening a connection forks a PostgreSQL backend (milliseconds of CPU each): keep idle
      // ones a minute rather than pg's 10 s, so bursts do not fork new ones over and over.
      idleTimeoutMillis: 60_000,
    });
    // An idle client's error (server restart) must not crash the process; the pool replaces it.
    this.#pool.on('error', () => {});
  }

  /** Callers waiting for a connection now. */
  get waitingCount(): number {
    return this.#pool.waitingCount;
  }

  async connect(): Promise<PostgresPoolClient> {
    // Idle clients are handed to queued callers on the next tick: those callers are not waiting.
    if (this.#pool.waitingCount - this.#pool.idleCount >= this.#maxWaiting) {
      throw new ChatError('unavailable', 'The database is overloaded; retry shortly.');
    }
    const client = await this.#pool.connect();
    let guarded = this.#clients.get(client);
    if (!guarded) {
      guarded = new GuardedClient(client);
      this.#clients.set(client, guarded);
    }
    guarded.reserve();
    return guarded;
  }

  /** Closes every connection; later calls wait for the same end (Kysely's destroy calls it too). */
  end(): Promise<void> {
    this.#ended ??= this.#pool.end();
    return this.#ended;
  }
}

/** A pooled client that remembers a connection-level failure and is then destroyed on release. */
class GuardedClient implements PostgresPoolClient {
  #broken: Error | undefined;

  constructor(private readonly client: pg.PoolClient) {}

  reserve(): void {
    this.#broken = undefined;
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(
    sqlOrCursor: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof sqlOrCursor !== 'string') {
      return (this.client as unknown as PostgresPoolClient).query(sqlOrCursor);
    }
    // A failed connection answers nothing more: fail at once (e.g. the ROLLBACK after a
    // timed-out statement) instead of waiting out another timeout.
    if (this.#broken) return Promise.reject(this.#broken);
    const values = parameters as unknown[];
    const pending = (sqlOrCursor.startsWith(PREPARE)
      ? this.client.query({ name: preparedName(sqlOrCursor), text: sqlOrCursor, values })
      : this.client.query(sqlOrCursor, values)) as unknown as Promise<PostgresQueryResult<R>>;
    return pending.catch((err: unknown) => {
      if (breaksConnection(err)) this.#broken = err as Error;
      throw err;
    });
  }

  release(destroy?: boolean): void {
    this.client.release(destroy || this.#broken !== undefined);
  }
}

/**
 * An SQL error (a DatabaseError with a SQLSTATE) leaves the connection usable, except the
 * server ending it (class 08, 57P01–57P03); anything else — a client-side read timeout, a
 * reset or terminated socket — leaves it in an unknown state.
 */
function breaksConnection(err: unknown): boolean {
  if (!(err instanceof pg.DatabaseError)) return true;
  const code = err.code ?? '';
  return code.startsWith('08') || code.startsWith('57P');
}
