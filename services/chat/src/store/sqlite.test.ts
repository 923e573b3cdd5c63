import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asUserId } from '@relay-chat/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseQuery } from '../search/search-text.js';
import { describeMessageStore } from './contract.js';
import { describeSearch } from './search-contract.js';
import { SqliteMessageStore, sqliteMigrations } from './sqlite.js';
import { describeUpgrades } from './upgrades.js';

function temporaryDatabase(): { url: string; drop: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'relay-chat-store-'));
  return {
    url: `sqlite:${join(dir, 'chat.db')}`,
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

describeMessageStore('SQLite (file, WAL)', {
  async create() {
    const database = temporaryDatabase();
    const store = new SqliteMessageStore(database.url);
    return {
      store,
      cleanup: async () => {
        await store.close();
        await database.drop();
      },
    };
  },
});

describeUpgrades('SQLite', {
  migrations: sqliteMigrations,
  createDatabase: async () => temporaryDatabase(),
  open: (url) => new SqliteMessageStore(url),
});

// The contract runs search with the default plan choice, which its small conversations
// always resolve to the member-driven plan: the index-driven one passes the same cases.
describe('SQLite search, index-driven plan', () => {
  const database = temporaryDatabase();
  const store = new SqliteMessageStore(database.url, { searchMemberDrivenMax: -1 });
  beforeAll(() => store.migrate());
  afterAll(async () => {
    await store.close();
    await database.drop();
  });
  describeSearch(() => store);

  // A time filter becomes a range of index row ids (search_docs.ts_max / ts_min): exact
  // even when messages were stored out of time order.
  it('filters by time when messages were stored out of time order', async () => {
    const [a, b] = [asUserId('t-a'), asUserId('t-b')];
    const g = (await store.createGroup({ name: 'times', createdBy: a, members: [b] }, 0)).id;
    const times = [5000, 1000, 3000, 2000, 6000, 4000, 4000];
    for (const [i, ts] of times.entries()) {
      await store.append([{ conv: g, sender: a, clientMsgId: `t${i}`, body: `tick ${ts}`, ts }]);
    }
    for (const after of [undefined, 0, 1000, 1500, 3000, 4000, 6000, 7000]) {
      for (const before of [undefined, 1000, 2500, 4000, 4001, 6001]) {
        const page = await store.search({
          userId: b,
          query: parseQuery('tick'),
          limit: 50,
          ...(after === undefined ? {} : { after }),
          ...(before === undefined ? {} : { before }),
        });
        const expected = times
          .map((ts, i) => ({ ts, seq: i + 1 }))
          .filter(({ ts }) => (after === undefined || ts >= after) && (before === undefined || ts < before))
          .map(({ seq }) => seq)
          .reverse();
        expect(
          page.hits.map((m) => m.seq),
          `${after} ${before}`,
        ).toEqual(expected);
      }
    }
  });
});

describe('SQLite first visits', () => {
  let database: { url: string; drop: () => Promise<void> };
  let store: SqliteMessageStore;
  beforeAll(async () => {
    database = temporaryDatabase();
    store = new SqliteMessageStore(database.url);
    await store.migrate();
  });
  afterAll(async () => {
    await store.close();
    await database.drop();
  });

  it('of one event-loop turn commit in one transaction, each visit failing alone', async () => {
    const owner = asUserId('owner');
    const channel = await store.createChannel({ name: 'lobby', createdBy: owner }, 1);
    const internals = store as unknown as {
      sqlite: { transaction: (...args: never[]) => unknown };
      st: { insertSeenUser: { run: (user: string, now: number) => { changes: number } } };
    };
    const transactions = vi.spyOn(internals.sqlite, 'transaction');
    const insertSeen = internals.st.insertSeenUser;
    const run = insertSeen.run.bind(insertSeen);
    const seen = vi.spyOn(insertSeen, 'run').mockImplementation((user, now) => {
      if (user === 'user-13') throw new Error('disk says no');
      return run(user, now);
    });
    try {
      const users = Array.from({ length: 200 }, (_, i) => asUserId(`user-${i}`));
      const visits = await Promise.allSettled(users.map((u) => store.welcome(u, [channel.id], 2)));
      // The batch and the per-visit savepoint: two transaction functions for 200 visits.
      expect(transactions).toHaveBeenCalledTimes(2);
      expect(visits[13]).toMatchObject({ status: 'rejected', reason: { message: 'disk says no' } });
      const joined = visits.filter((v) => v.status === 'fulfilled').map((v) => v.value);
      expect(joined).toEqual(Array.from({ length: 199 }, () => [channel.id]));
      expect((await store.conversationsOf(asUserId('user-12'))).map((s) => s.id)).toEqual([channel.id]);
      expect(await store.conversationsOf(asUserId('user-13'))).toEqual([]);
      // A second visit joins nothing.
      seen.mockRestore();
      expect(await store.welcome(asUserId('user-12'), [channel.id], 3)).toEqual([]);
      expect(await store.welcome(asUserId('user-13'), [channel.id], 3)).toEqual([channel.id]);
    } finally {
      transactions.mockRestore();
      seen.mockRestore();
    }
  });
});
