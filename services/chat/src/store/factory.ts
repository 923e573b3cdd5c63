import { ConfigError, type DatabaseLimits, type Logger } from '@relay-chat/service-kit';
import type { SqliteStoreThread } from '../config.js';
import type { MessageStore } from './message-store.js';
import { MongoMessageStore } from './mongo.js';
import { PostgresMessageStore } from './postgres.js';
import { SqliteMessageStore } from './sqlite.js';
import { SqliteWorkerStore } from './sqlite-worker.js';

export interface MessageStoreOptions {
  /** PostgreSQL waits and timeouts. */
  limits?: Readonly<DatabaseLimits>;
  /**
   * SQLite: `worker` (default) runs the store on a worker thread, so no commit (and its
   * fsync) ever blocks the thread that writes to the sockets; `main` runs it in-thread.
   */
  sqliteThread?: SqliteStoreThread;
  /**
   * Index appends for message search (default true). False is for `sqlite:` and
   * `postgres://` stores; MongoDB keeps its text index itself, so it is a ConfigError there.
   */
  searchIndex?: boolean;
}

/**
 * The message store named by `MESSAGE_STORE_URL`, chosen by scheme: `sqlite:<path>`,
 * `postgres://` / `postgresql://`, `mongodb://` / `mongodb+srv://`. Nothing connects
 * until `migrate()`/first use. An unknown scheme is a ConfigError naming the variable
 * (the URL itself is never echoed: it may carry a password).
 */
export function createMessageStore(
  url: string,
  logger: Logger,
  options: MessageStoreOptions = {},
): MessageStore {
  const { limits } = options;
  const searchIndex = options.searchIndex ?? true;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'sqlite':
      // Either way, the WAL is checkpointed on a thread of its own (sqlite-checkpointer.ts).
      return options.sqliteThread === 'main'
        ? new SqliteMessageStore(url, { logger, backgroundCheckpoints: true, searchIndex })
        : new SqliteWorkerStore(url, { logger, backgroundCheckpoints: true, searchIndex });
    case 'postgres':
    case 'postgresql':
      return new PostgresMessageStore(url, { logger, searchIndex, ...(limits ? { limits } : {}) });
    case 'mongodb':
    case 'mongodb+srv':
      if (!searchIndex) throw new ConfigError('SEARCH_INDEX', 'off is for sqlite: and postgres:// stores');
      return new MongoMessageStore(url, { logger });
    default:
      throw new ConfigError(
        'MESSAGE_STORE_URL',
        'must start with sqlite:, postgres://, postgresql://, mongodb:// or mongodb+srv://',
      );
  }
}
