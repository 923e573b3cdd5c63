import { ConfigError, createLogger } from '@relay-chat/service-kit';
import { describe, expect, it } from 'vitest';
import { createMessageStore } from './factory.js';
import { MongoMessageStore } from './mongo.js';
import { PostgresMessageStore } from './postgres.js';
import { SqliteMessageStore } from './sqlite.js';
import { SqliteWorkerStore } from './sqlite-worker.js';

const logger = createLogger({ name: 'chat-store-test', level: 'silent' });

describe('createMessageStore', () => {
  it.each([
    ['sqlite::memory:', SqliteWorkerStore],
    ['postgres://postgres@127.0.0.1:5432/none', PostgresMessageStore],
    ['postgresql://postgres@127.0.0.1:5432/none', PostgresMessageStore],
    ['mongodb://127.0.0.1:27017/chat?replicaSet=rs0', MongoMessageStore],
    ['mongodb://h1:27017,h2:27017/chat?replicaSet=rs0', MongoMessageStore],
  ])('picks the store for %s without connecting', async (url, kind) => {
    const store = createMessageStore(url, logger);
    expect(store).toBeInstanceOf(kind);
    await store.close();
  });

  it('keeps a SQLite store on the main thread when asked to', async () => {
    const store = createMessageStore('sqlite::memory:', logger, { sqliteThread: 'main' });
    expect(store).toBeInstanceOf(SqliteMessageStore);
    await store.close();
    const onWorker = createMessageStore('sqlite::memory:', logger, { sqliteThread: 'worker' });
    expect(onWorker).toBeInstanceOf(SqliteWorkerStore);
    await onWorker.close();
  });

  it.each(['redis://127.0.0.1:6379', 'mysql://db/chat', 'chat.db', ''])(
    'refuses %j with a ConfigError naming MESSAGE_STORE_URL',
    (url) => {
      const attempt = () => createMessageStore(url, logger);
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(/^MESSAGE_STORE_URL: /);
    },
  );

  it('refuses SEARCH_INDEX=off for MongoDB, which keeps its text index itself', () => {
    const attempt = () => createMessageStore('mongodb://127.0.0.1/chat', logger, { searchIndex: false });
    expect(attempt).toThrow(/^SEARCH_INDEX: /);
  });

  it('never echoes the URL (it may carry a password) in its error', () => {
    expect(() => createMessageStore('mysql://user:s3cret@db/chat', logger)).not.toThrow(/s3cret/);
  });
});
