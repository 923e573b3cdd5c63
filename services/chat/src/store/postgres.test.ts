import { randomUUID } from 'node:crypto';
import { asConversationId, asUserId } from '@relay-chat/protocol';
import { openDatabase } from '@relay-chat/service-kit';
import { createTestDatabase, pgAvailable, type TestDatabase, waitFor } from '@relay-chat/testkit';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseQuery, searchText } from '../search/search-text.js';
import { describeMessageStore } from './contract.js';
import type { AppendOutcome, AppendResult } from './message-store.js';
import { PostgresMessageStore, postgresMigrations } from './postgres.js';
import { pairsOf } from './postgres-search.js';
import { describeSearch, describeSearchIndexSwitch } from './search-contract.js';
import { runChatMigrations } from './sql-migrator.js';
import { describeUpgrades } from './upgrades.js';

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

    describe('PostgresMessageStore search, SEARCH_INDEX off and on again', () => {
      let database: TestDatabase | undefined;
      afterAll(() => database?.drop());
      describeSearchIndexSwitch(async (searchIndex) => {
        database ??= await createTestDatabase('chat_store_search_switch');
        const store = new PostgresMessageStore(database.url, { poolSize: 2, searchIndex });
        await store.migrate();
        return store;
      });
    });

    describeUpgrades('PostgreSQL', {
      migrations: postgresMigrations,
      createDatabase: () => createTestDatabase('chat_store_upgrade'),
      open: (url) => new PostgresMessageStore(url, { poolSize: 2 }),
    });

    // The contract's searches fit in the recent window (RECENT_WINDOW rows), which is read
    // and matched whole: with a window of two rows they run through the trigram and pair
    // indexes' query instead, across the window's edge, on every page (and with no walk
    // allowed, through the plan a rare term gets).
    describe('PostgresMessageStore search through the indexes', () => {
      let database: TestDatabase;
      let store: PostgresMessageStore;
      beforeAll(async () => {
        database = await createTestDatabase('chat_store_search_window');
        store = new PostgresMessageStore(database.url, { poolSize: 4, searchWindow: 2, searchWalkMax: 0 });
        await store.migrate();
      });
      afterAll(async () => {
        await store?.close();
        await database?.drop();
      });
      describeSearch(() => store);

      it('keeps the CJK pairs of appended and edited messages, and finds terms by them', async () => {
        const [a, b] = [asUserId(`p-${randomUUID()}`), asUserId(`p-${randomUUID()}`)];
        const g = (await store.createGroup({ name: 'pairs', createdBy: a, members: [b] }, 1)).id;
        const say = async (body: string) => {
          const [outcome] = await store.append([
            { conv: g, sender: a, clientMsgId: randomUUID(), body, ts: 2 },
          ]);
          if (!outcome || !('message' in outcome)) throw new Error('not stored');
          return outcome.message.seq;
        };
        const tower = await say('東京タワー、見た？');
        await say('plain words');
        await say('東 and 京 apart');
        await say('more words');
        const search = async (q: string) =>
          (await store.search({ userId: b, query: parseQuery(q), limit: 10 })).hits.map((m) => m.body);
        expect(await search('東京')).toEqual(['東京タワー、見た？']);
        expect(await search('京タワ')).toEqual(['東京タワー、見た？']);
        await store.editMessage({ conv: g, seq: tower, actor: a, body: '大阪城', now: 3 });
        expect(await search('東京')).toEqual([]);
        expect(await search('阪城')).toEqual(['大阪城']);
        const direct = openDatabase<unknown>(database.url, { variable: 'MESSAGE_STORE_URL' });
        const { rows } = await sql<{ pairs: string[] | null }>`
          SELECT pairs FROM message_search WHERE conv = ${g} ORDER BY seq`
          .execute(direct.db)
          .finally(() => direct.close());
        expect(rows.map((r) => r.pairs?.sort() ?? null)).toEqual([['大阪', '阪城'], null, null, null]);
        expect(pairsOf(searchText('東京タワー')).sort()).toEqual(['京タ', 'タワ', 'ワー', '東京'].sort());
        expect(pairsOf(searchText('я в метро 🎉🎉 ok'))).toEqual(['яв', '🎉🎉']);
      });
    });

    describe('PostgresMessageStore search upgrade', () => {
      it('indexes the live messages stored before 0006_search, oldest first', async () => {
        const database = await createTestDatabase('chat_store_search_upgrade');
        const old = openDatabase<unknown>(database.url, { variable: 'MESSAGE_STORE_URL' });
        // A window of one row: the searches below go through the text indexes 0006 and 0007 built.
        const store = new PostgresMessageStore(database.url, { poolSize: 2, searchWindow: 1 });
        try {
          await runChatMigrations(old.db, postgresMigrations, '0005_changes');
          const [a, b] = [asUserId('u-a'), asUserId('u-b')];
          // Written as the code before 0006 wrote them: no search rows; one is deleted.
          const bodies = ['Deploy FAILED', 'café deploy', '', '東京 deploy', 'nothing'];
          await sql`INSERT INTO conversations (id, kind, name, created_by, created_at, last_seq, last_activity_at)
            VALUES ('g', 'group', 'old', ${a}, 1, ${bodies.length}, 1)`.execute(old.db);
          await sql`INSERT INTO members (conv, user_id, joined_at) VALUES ('g', ${a}, 1), ('g', ${b}, 1)`.execute(
            old.db,
          );
          for (const [i, body] of bodies.entries()) {
            await sql`INSERT INTO messages (conv, seq, id, sender, client_msg_id, body, ts, deleted)
              VALUES ('g', ${i + 1}, ${`m${i}`}, ${a}, ${`c${i}`}, ${body}, ${10 + i}, ${body === ''})`.execute(
              old.db,
            );
          }
          const g = asConversationId('g');
          await store.migrate();
          const search = async (q: string) =>
            (await store.search({ userId: b, query: parseQuery(q), limit: 10 })).hits.map((m) => m.body);
          expect(await search('deploy')).toEqual(['東京 deploy', 'café deploy', 'Deploy FAILED']);
          expect(await search('cafe')).toEqual(['café deploy']);
          expect(await search('東京')).toEqual(['東京 deploy']);
          // Written after the upgrade: found before the older ones.
          await store.append([{ conv: g, sender: a, clientMsgId: 'new', body: 'deploy again', ts: 99 }]);
          expect((await search('deploy'))[0]).toBe('deploy again');
        } finally {
          await old.close();
          await store.close();
          await database.drop();
        }
      });
    });

    describe('PostgresMessageStore races and round trips', () => {
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

      const user = () => asUserId(`u-${randomUUID()}`);
      /** Waits until `n` other sessions of the test database are blocked on a lock. */
      async function waitForLockWaiters(n: number, what: string): Promise<void> {
        await waitFor(
          async () => {
            // Statistics are snapshotted per transaction, and this client is inside one.
            await admin.query('SELECT pg_stat_clear_snapshot()');
            const { rows } = await admin.query<{ n: number }>(
              `SELECT count(*) AS n FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
            );
            return Number(rows[0]?.n) === n;
          },
          { what },
        );
      }

      it('refuses a sender whose leave committed while the batch waited for the conversation lock', async () => {
        const [a, leaver] = [user(), user()];
        const g = await store.createGroup(
          { name: 'leave race', createdBy: asUserId(a), members: [asUserId(leaver)] },
          1,
        );
        // The batch's statement starts (its snapshot still shows the leaver as a member) and
        // waits for the conversation's row lock, which this "leave" holds until it commits.
        await admin.query('BEGIN');
        await admin.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [g.id]);
        const pending = store.append([
          { conv: g.id, sender: asUserId(leaver), clientMsgId: 'late', body: 'after the leave', ts: 2 },
          { conv: g.id, sender: asUserId(a), clientMsgId: 'bystander', body: 'still here', ts: 2 },
        ]);
        await waitForLockWaiters(1, 'the append waiting on the conversation lock');
        await admin.query('DELETE FROM members WHERE conv = $1 AND user_id = $2', [g.id, leaver]);
        await admin.query('COMMIT');
        const [late, bystander] = await pending;
        expect(late).toEqual({ refused: 'not_member' });
        expect(stored(bystander!).message.seq).toBe(1);
        expect((await store.history(g.id, { after: 0, limit: 10 })).map((m) => m.body)).toEqual([
          'still here',
        ]);
      });

      it('refuses a change by a member whose leave committed while the change waited for the conversation lock', async () => {
        const [a, leaver] = [user(), user()];
        const g = await store.createGroup(
          { name: 'change race', createdBy: asUserId(a), members: [asUserId(leaver)] },
          1,
        );
        await store.append([
          { conv: g.id, sender: asUserId(a), clientMsgId: 'm', body: 'react to me', ts: 2 },
        ]);
        await admin.query('BEGIN');
        await admin.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [g.id]);
        const pending = store
          .react({
            conv: g.id,
            seq: 1,
            actor: asUserId(leaver),
            emoji: '👍',
            on: true,
            now: 3,
            maxDistinct: 20,
          })
          .then(
            () => 'changed',
            (err: { code?: string }) => err.code,
          );
        await waitForLockWaiters(1, 'the reaction waiting on the conversation lock');
        await admin.query('DELETE FROM members WHERE conv = $1 AND user_id = $2', [g.id, leaver]);
        await admin.query('COMMIT');
        expect(await pending).toBe('not_member');
        expect((await store.getConversation(g.id))!.lastChangeSeq).toBe(0);
      });

      it('hands out changeSeqs in commit order to changes of one message racing on the lock', async () => {
        const people = Array.from({ length: 5 }, () => asUserId(user()));
        const g = await store.createGroup({ name: 'pile-on', createdBy: people[0]!, members: people }, 1);
        await store.append([{ conv: g.id, sender: people[0]!, clientMsgId: 'm', body: 'vote', ts: 2 }]);
        await admin.query('BEGIN');
        await admin.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [g.id]);
        const pending = people.map((p) =>
          store.react({ conv: g.id, seq: 1, actor: p, emoji: '👍', on: true, now: 3, maxDistinct: 20 }),
        );
        await waitForLockWaiters(people.length, 'every reaction waiting on the conversation lock');
        await admin.query('COMMIT');
        const results = await Promise.all(pending);
        expect(results.map((r) => r.message.changeSeq!).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5]);
        // Each saw the reactions committed before it: the count matches its changeSeq.
        for (const r of results) expect(r.message.reactions![0]!.count).toBe(r.message.changeSeq);
        const [final] = (await store.history(g.id, { limit: 1 }))[0]!.reactions!;
        expect(final!.count).toBe(5);
      });

      it('writes a batch with refused inputs and in-batch repeats in one round trip', async () => {
        const [a, b, stranger] = [user(), user(), user()];
        const g = await store.createGroup(
          { name: 'trips', createdBy: asUserId(a), members: [asUserId(b)] },
          1,
        );
        const h = await store.createGroup(
          { name: 'trips', createdBy: asUserId(b), members: [asUserId(a)] },
          1,
        );
        const batch = Array.from({ length: 40 }, (_, i) => ({
          conv: [g.id, h.id, asConversationId(randomUUID())][i % 3]!,
          sender: [a, b, stranger, a][i % 4]!,
          clientMsgId: `c${i % 20}`,
          body: `m${i}`,
          ts: 10 + i,
        }));
        const query = vi.spyOn(pg.Client.prototype, 'query');
        let outcomes: AppendOutcome[];
        try {
          outcomes = await store.append(batch);
          expect(query).toHaveBeenCalledTimes(1);
        } finally {
          query.mockRestore();
        }
        const storedCount = outcomes.filter((o) => !('refused' in o) && !o.duplicate).length;
        expect(storedCount).toBeGreaterThan(0);
        expect(outcomes.some((o) => 'refused' in o && o.refused === 'not_member')).toBe(true);
        expect(outcomes.some((o) => 'refused' in o && o.refused === 'not_found')).toBe(true);
        const lastSeqs =
          (await store.getConversation(g.id))!.lastSeq + (await store.getConversation(h.id))!.lastSeq;
        expect(lastSeqs).toBe(storedCount);
      });

      it('retries a batch that lost the race on (sender, clientMsgId) and returns the winner as a duplicate', async () => {
        const [a, b] = [asUserId(`u-${randomUUID()}`), asUserId(`u-${randomUUID()}`)];
        const g = await store.createGroup(
          { name: 'race', createdBy: asUserId(a), members: [asUserId(b)] },
          1,
        );
        const input = { conv: g.id, sender: a, clientMsgId: 'same', body: 'hello', ts: 2 };
        const racers = 4;
        // Hold the conversation's row lock so that every racer has looked for the
        // duplicate (and found none) before any of them may insert.
        await admin.query('BEGIN');
        await admin.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [g.id]);
        const pending = Array.from({ length: racers }, () => store.append([{ ...input }]));
        await waitForLockWaiters(racers, 'every racer waiting on the conversation lock');
        await admin.query('COMMIT');
        const results = (await Promise.all(pending)).map((r) => stored(r[0]!));
        expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
        expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
        expect((await store.getConversation(g.id))!.lastSeq).toBe(1);
        expect((await store.history(g.id, { after: 0, limit: 10 })).map((m) => m.seq)).toEqual([1]);
      });
    });
  },
);

function stored(outcome: AppendOutcome): AppendResult {
  if ('refused' in outcome) throw new Error(`append refused: ${outcome.refused}`);
  return outcome;
}
