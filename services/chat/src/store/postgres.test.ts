import { createTestDatabase, pgAvailable } from '@relay-chat/testkit';
import { describe } from 'vitest';
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
  },
);
