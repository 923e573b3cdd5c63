import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asUserId } from '@relay-chat/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
