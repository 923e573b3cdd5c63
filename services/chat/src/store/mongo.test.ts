import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { describe } from 'vitest';
import { describeMessageStore } from './contract.js';
import { MongoMessageStore } from './mongo.js';

/**
 * The MongoDB contract suite runs against a real MongoDB replica set named by MONGO_URL
 * (transactions need a replica set; a single node will do). No MongoDB runs on the build
 * machines, so without MONGO_URL the suite is reported as skipped — never replaced by a
 * fake. docs/storage.md says how to start one and run this file.
 */
const MONGO_URL = process.env.MONGO_URL;
if (!MONGO_URL) {
  console.warn(
    '\n!!! MongoMessageStore contract suite SKIPPED: MONGO_URL is not set (see docs/storage.md to run it) !!!\n',
  );
}

describe.skipIf(!MONGO_URL)(
  MONGO_URL
    ? 'MongoMessageStore (MONGO_URL)'
    : 'MongoMessageStore — SKIPPED: MONGO_URL is not set (needs a MongoDB replica set, see docs/storage.md)',
  () => {
    describeMessageStore('MongoDB', {
      async create() {
        const dbName = `relay_chat_test_${randomBytes(5).toString('hex')}`;
        const store = new MongoMessageStore(MONGO_URL!, { dbName });
        return {
          store,
          cleanup: async () => {
            await store.close();
            const admin = new MongoClient(MONGO_URL!);
            try {
              await admin.db(dbName).dropDatabase();
            } finally {
              await admin.close();
            }
          },
        };
      },
    });
  },
);
