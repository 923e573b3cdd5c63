import { randomUUID } from 'node:crypto';
import { createTestDatabase, pgAvailable, type TestDatabase, waitFor } from '@relay-chat/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeMessageStore } from './contract.js';
import { PostgresMessageStore } from './postgres.js';

const available = await pgAvailable();

describe.skipIf(!available)(
  available ? 'PostgresMessageStore' : 'PostgresMessageStore — SKIPPED: PostgreSQL is unreachable',
  () => {
    describeMessageStore('PostgreSQL', {
      async create() {
        const database = await createTestDatabase('chat_store');
        const store = new PostgresMessageStore(database.url, { poolSize: 12 });
        return {
          store,
          cleanup: async () => {
            await store.close();
            await database.drop();
          },
        };
      },
    });

    describe('PostgresMessageStore races', () => {
      let database: TestDatabase;
      let store: PostgresMessageStore;
      let admin: pg.Client;
      beforeAll(async () => {
        database = await createTestDatabase('chat_store_race');
        store = new PostgresMessageStore(database.url, { poolSize: 12 });
        await store.migrate();
        admin = new pg.Client({ connectionString: database.url });
        await admin.connect();
      });
      afterAll(async () => {
        await admin?.end();
        await store?.close();
        await database?.drop();
      });

      it('retries a batch that lost the race on (sender, clientMsgId) and returns the winner as a duplicate', async () => {
        const [a, b] = [`u-${randomUUID()}`, `u-${randomUUID()}`];
        const g = await store.createGroup({ name: 'race', createdBy: a, members: [b] }, 1);
        const input = { conv: g.id, sender: a, clientMsgId: 'same', body: 'hello', ts: 2 };
        const racers = 4;
        // Hold the conversation's row lock so that every racer has looked for the
        // duplicate (and found none) before any of them may insert.
        await admin.query('BEGIN');
        await admin.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [g.id]);
        const pending = Array.from({ length: racers }, () => store.append([{ ...input }]));
        await waitFor(
          async () => {
            // Statistics are snapshotted per transaction, and this client is inside one.
            await admin.query('SELECT pg_stat_clear_snapshot()');
            const { rows } = await admin.query<{ n: number }>(
              `SELECT count(*) AS n FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
            );
            return Number(rows[0]?.n) === racers;
          },
          { what: 'every racer waiting on the conversation lock' },
        );
        await admin.query('COMMIT');
        const results = (await Promise.all(pending)).map((r) => r[0]!);
        expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
        expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
        expect((await store.getConversation(g.id))!.lastSeq).toBe(1);
        expect((await store.history(g.id, { after: 0, limit: 10 })).map((m) => m.seq)).toEqual([1]);
      });
    });
  },
);
