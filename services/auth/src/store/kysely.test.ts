import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, pgAvailable } from '@relay-chat/testkit';
import { describeUserStore } from './contract.js';
import { openUserStore } from './kysely.js';

describeUserStore({
  name: 'SQLite',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'auth-store-'));
    const store = openUserStore(`sqlite:${join(dir, 'auth.db')}`);
    await store.migrate();
    return {
      store,
      async destroy() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

describeUserStore({
  name: 'PostgreSQL',
  skip: !(await pgAvailable()),
  async create() {
    const database = await createTestDatabase('auth_store');
    const store = openUserStore(database.url);
    await store.migrate();
    return {
      store,
      async destroy() {
        await store.close();
        await database.drop();
      },
    };
  },
});
