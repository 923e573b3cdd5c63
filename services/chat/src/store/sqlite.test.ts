import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMessageStore } from './contract.js';
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
