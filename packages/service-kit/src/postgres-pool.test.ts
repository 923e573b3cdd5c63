import { createTestDatabase, pgAvailable, type TestDatabase } from '@relay-chat/testkit';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenedDatabase, openDatabase } from './database.js';
import { PREPARE, preparedName } from './postgres-pool.js';

const available = await pgAvailable();

describe.skipIf(!available)(
  available ? 'BoundedPool prepared statements' : 'BoundedPool — SKIPPED: PostgreSQL is unreachable',
  () => {
    let database: TestDatabase;
    let db: OpenedDatabase<unknown>;

    beforeAll(async () => {
      database = await createTestDatabase('pool_prepare');
      db = openDatabase(database.url, { poolSize: 1 });
    });

    afterAll(async () => {
      await db?.close();
      await database?.drop();
    });

    it('prepares a statement that opens with PREPARE once per connection, and runs it with new values', async () => {
      const text = (n: number) => sql<{ n: number }>`${sql.raw(PREPARE)}SELECT ${n}::int + 1 AS n`;
      const answers: number[] = [];
      for (const n of [1, 2, 3]) answers.push((await text(n).execute(db.db)).rows[0]!.n);
      expect(answers).toEqual([2, 3, 4]);
      const { rows } = await sql<{ name: string; statement: string }>`
        SELECT name, statement FROM pg_prepared_statements`.execute(db.db);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.name).toBe(preparedName(rows[0]!.statement));
      expect(rows[0]!.statement.startsWith(PREPARE)).toBe(true);
    });

    it('leaves other statements unprepared', async () => {
      await sql`SELECT 1 AS one`.execute(db.db);
      const { rows } = await sql<{
        n: number;
      }>`SELECT count(*)::int AS n FROM pg_prepared_statements`.execute(db.db);
      expect(rows[0]!.n).toBe(1);
    });

    it('names each distinct text apart', () => {
      expect(preparedName(`${PREPARE}SELECT 1`)).toBe(preparedName(`${PREPARE}SELECT 1`));
      expect(preparedName(`${PREPARE}SELECT 1`)).not.toBe(preparedName(`${PREPARE}SELECT 2`));
    });
  },
);
