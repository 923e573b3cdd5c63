import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
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
});
