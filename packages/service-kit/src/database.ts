import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, type Migration, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { ConfigError } from './config.js';
import {
  BoundedPool,
  type DatabaseLimits,
  DEFAULT_DATABASE_LIMITS,
  UNBOUNDED_DATABASE_LIMITS,
} from './postgres-pool.js';

// int8 (bigint) columns hold sequence numbers and millisecond timestamps, all far below
// 2^53: read them as numbers, not strings.
pg.types.setTypeParser(20, (value) => Number(value));

export type DatabaseKind = 'sqlite' | 'postgres';

export interface OpenedDatabase<DB> {
  db: Kysely<DB>;
  kind: DatabaseKind;
  /** The SQLite handle in embedded mode (for pragmas and synchronous transactions). */
  sqlite?: Database.Database;
  /**
   * Runs `work` on one extra connection without any time limit (PostgreSQL; SQLite runs it
   * on `db`), then closes that connection: for migrations, whose statements may rightly run
   * longer than DatabaseLimits allow a request's.
   */
  withoutTimeouts<T>(work: (db: Kysely<DB>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Largest PostgreSQL pool. Default 10. */
  poolSize?: number;
  /** Bounds on PostgreSQL waits (envDatabaseLimits). Default DEFAULT_DATABASE_LIMITS. */
  limits?: Readonly<DatabaseLimits>;
  /** Name of the variable the URL came from, for error messages. */
  variable?: string;
}

/**
 * Opens `sqlite:<path>` (or `sqlite::memory:`) or `postgres://…` with Kysely.
 * SQLite runs in WAL mode with full fsync on commit, foreign keys on.
 * PostgreSQL runs on a BoundedPool: every wait for a connection or an answer is bounded,
 * and a connection that timed out is discarded (toServiceError classifies the failures as
 * `unavailable`).
 */
export function openDatabase<DB>(url: string, options: OpenDatabaseOptions = {}): OpenedDatabase<DB> {
  const variable = options.variable ?? 'DATABASE_URL';
  if (url.startsWith('sqlite:')) {
    const path = sqlitePathOf(url);
    if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
    const sqlite = new Database(path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: sqlite }) });
    return { db, kind: 'sqlite', sqlite, withoutTimeouts: (work) => work(db), close: () => db.destroy() };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const pool = new BoundedPool(url, {
      poolSize: options.poolSize ?? 10,
      limits: options.limits ?? DEFAULT_DATABASE_LIMITS,
    });
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      kind: 'postgres',
      async withoutTimeouts(work) {
        const unbounded = new Kysely<DB>({
          dialect: new PostgresDialect({
            pool: new BoundedPool(url, { poolSize: 1, limits: UNBOUNDED_DATABASE_LIMITS }),
          }),
        });
        try {
          return await work(unbounded);
        } finally {
          await unbounded.destroy();
        }
      },
      // Kysely ends the pool only if it ever used it; a store closed before its first
      // query (migrations run on their own pool) must not leave this one open.
      async close() {
        await db.destroy();
        await pool.end();
      },
    };
  }
  throw new ConfigError(variable, 'must start with sqlite: or postgres://');
}

/** `sqlite:./data/x.db`, `sqlite:///abs/x.db`, `sqlite::memory:` → the file path. */
export function sqlitePathOf(url: string): string {
  const rest = url.slice('sqlite:'.length);
  if (rest === ':memory:' || rest === '') return ':memory:';
  return rest.startsWith('//') ? rest.slice(2) : rest;
}

/** Runs the given migrations (in name order) to the latest; throws on failure. */
export async function migrateToLatest<DB>(
  db: Kysely<DB>,
  migrations: Record<string, Migration>,
): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`migration ${failed ?? '?'} failed`, { cause: error });
  }
}
