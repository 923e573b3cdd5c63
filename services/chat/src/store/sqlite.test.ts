import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMessageStore } from './contract.js';
import { SqliteMessageStore } from './sqlite.js';

describeMessageStore('SQLite (file, WAL)', {
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'relay-chat-store-'));
    const store = new SqliteMessageStore(`sqlite:${join(dir, 'chat.db')}`);
    return {
      store,
      cleanup: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
