import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { asUserId, ChatError } from '@relay-chat/protocol';
import { isUnavailableError, type Logger } from '@relay-chat/service-kit';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AppendBatcher } from '../append-batcher.js';
import { parseQuery } from '../search/search-text.js';
import { describeMessageStore } from './contract.js';
import type { AppendInput, MessageStore } from './message-store.js';
import { SqliteMessageStore } from './sqlite.js';
import { UNINDEXED_COUNT_SQL } from './sqlite-search.js';
import { SqliteWorkerStore } from './sqlite-worker.js';
import { deserializeError, serializeError } from './sqlite-worker-protocol.js';

function temporaryDatabase(): { url: string; path: string; drop: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'relay-chat-worker-store-'));
  const path = join(dir, 'chat.db');
  return { url: `sqlite:${path}`, path, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

describeMessageStore('SQLite on a worker thread (file, WAL)', {
  async create() {
    const database = temporaryDatabase();
    const store = new SqliteWorkerStore(database.url);
    return {
      store,
      cleanup: async () => {
        await store.close();
        await database.drop();
      },
    };
  },
});

describeMessageStore('SQLite on a worker thread (:memory:)', {
  async create() {
    const store = new SqliteWorkerStore('sqlite::memory:');
    return { store, cleanup: () => store.close() };
  },
});

function fakeLogger() {
  const logger = { error: vi.fn(), warn: vi.fn(), info: vi.fn() };
  return { logger, asLogger: logger as unknown as Logger };
}

const workerOf = (store: SqliteWorkerStore) => (store as unknown as { worker: Worker }).worker;

describe('SqliteWorkerStore', () => {
  const [a, b, c] = [asUserId('w-a'), asUserId('w-b'), asUserId('w-c')];
  let database: ReturnType<typeof temporaryDatabase>;
  let store: SqliteWorkerStore;
  beforeAll(async () => {
    database = temporaryDatabase();
    store = new SqliteWorkerStore(database.url);
    await store.migrate();
  });
  afterAll(async () => {
    await store.close();
    await database.drop();
  });

  const messages = (conv: AppendInput['conv'], count: number, tag: string): AppendInput[] =>
    Array.from({ length: count }, (_, i) => ({
      conv,
      sender: a,
      clientMsgId: `${tag}-${i}`,
      body: `message ${i} of ${tag}`,
      ts: 1000 + i,
    }));

  it("answers the store's refusals as ChatErrors with their code, message and fields", async () => {
    const g = (await store.createGroup({ name: 'errors', createdBy: a, members: [b] }, 1)).id;
    await store.createChannel({ name: 'taken-name', createdBy: a }, 1);
    const refusals: [string, (on: MessageStore) => Promise<unknown>][] = [
      ['markRead by a non-member', (on) => on.markRead(g, c, 0)],
      ['markRead past the end', (on) => on.markRead(g, a, 99)],
      ['a negative read marker', (on) => on.markRead(g, a, -1)],
      ['a taken channel name', (on) => on.createChannel({ name: 'TAKEN-name', createdBy: b }, 2)],
      ['a rename by a non-owner', (on) => on.updateConversation(g, b, { name: 'mine now' })],
    ];
    const errorOf = (what: string, call: Promise<unknown>) =>
      call.then(
        () => expect.fail(`${what}: no error`),
        (e: unknown) => e,
      );
    // The same calls on the store in-thread, on a database in the same state.
    const reference = new SqliteMessageStore(database.url);
    try {
      for (const [what, attempt] of refusals) {
        const err = await errorOf(what, attempt(store));
        expect(err, what).toBeInstanceOf(ChatError);
        const chat = err as ChatError;
        expect(chat.stack, what).toContain('ChatError');
        const expected = (await errorOf(what, attempt(reference))) as ChatError;
        expect({ code: chat.code, message: chat.message, fields: chat.fields }, what).toEqual({
          code: expected.code,
          message: expected.message,
          fields: expected.fields,
        });
      }
      const negative = (await errorOf('negative', store.markRead(g, a, -1))) as ChatError;
      expect(negative.fields).toEqual([{ field: '/seq', message: 'must be a whole number ≥ 0' }]);
    } finally {
      await reference.close();
    }
  });

  it('refuses an append through the batcher as ChatError not_member', async () => {
    const g = (await store.createGroup({ name: 'members only', createdBy: a, members: [b] }, 1)).id;
    const batcher = new AppendBatcher(store);
    const refused = batcher.append({ conv: g, sender: c, clientMsgId: 'x', body: 'let me in', ts: 2 });
    await expect(refused).rejects.toBeInstanceOf(ChatError);
    await expect(refused).rejects.toMatchObject({ code: 'not_member' });
    expect(
      (await batcher.append({ conv: g, sender: b, clientMsgId: 'y', body: 'hello', ts: 3 })).message.seq,
    ).toBe(1);
  });

  it('keeps the order of appends made through the batcher', async () => {
    const g = (await store.createGroup({ name: 'order', createdBy: a, members: [b] }, 1)).id;
    const batcher = new AppendBatcher(store, 7);
    const results = await Promise.all(messages(g, 100, 'order').map((m) => batcher.append(m)));
    expect(results.map((r) => r.message.seq)).toEqual(results.map((_, i) => i + 1));
    expect(results.map((r) => r.message.clientMsgId)).toEqual(results.map((_, i) => `order-${i}`));
  });

  it('returns Sets and nested records intact', async () => {
    const g = (await store.createGroup({ name: 'shapes', createdBy: a, members: [b] }, 1)).id;
    await store.append([{ conv: g, sender: b, clientMsgId: 's1', body: 'hi @a', ts: 5, mentions: [a] }]);
    const spoke = await store.spokeWith(a, [b, c]);
    expect(spoke).toBeInstanceOf(Set);
    expect([...spoke]).toEqual([b]);
    const state = await store.conversationStateOf(g, a);
    expect(state).toMatchObject({ unread: 1, unreadMentions: 1, mentionSeqs: [1], memberIds: [a, b] });
    expect(state?.lastMessage).toMatchObject({ seq: 1, from: b, mentions: [a] });
    expect((await store.search({ userId: a, query: parseQuery('hi'), limit: 5 })).hits).toHaveLength(1);
  });

  it('commits on the worker while the main thread keeps running', async () => {
    const g = (await store.createGroup({ name: 'busy', createdBy: a, members: [b] }, 1)).id;
    // Another connection holds the write lock: the worker's commit waits for it (busy_timeout)
    // inside its transaction. In-thread, that wait would block this thread.
    const holder = new Database(database.path);
    holder.exec('BEGIN IMMEDIATE');
    let done = false;
    const appended = store.append(messages(g, 10, 'locked')).finally(() => {
      done = true;
    });
    let turns = 0;
    while (turns < 200) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      turns++;
    }
    expect(done).toBe(false);
    holder.exec('COMMIT');
    holder.close();
    expect(await appended).toHaveLength(10);

    // A large durable batch: count the main thread's event-loop turns while it commits.
    let ticks = 0;
    let ticking = true;
    const tick = () => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const outcomes = await store.append(messages(g, 3000, 'large'));
    ticking = false;
    expect(outcomes).toHaveLength(3000);
    expect(ticks).toBeGreaterThan(10);
  });

  it('keeps the code of a database error (SQLITE_BUSY stays unavailable)', () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    busy.name = 'SqliteError';
    const back = deserializeError(serializeError(new Error('append failed', { cause: busy })));
    expect(back.message).toBe('append failed');
    expect(back.cause).toMatchObject({
      name: 'SqliteError',
      message: 'database is locked',
      code: 'SQLITE_BUSY',
    });
    expect(isUnavailableError(back)).toBe(true);
    const limited = new ChatError('rate_limited', 'slow down', { retryAfterSec: 3 });
    const chat = deserializeError(serializeError(limited));
    expect(chat).toBeInstanceOf(ChatError);
    expect(chat).toMatchObject({ code: 'rate_limited', message: 'slow down', retryAfterSec: 3 });
  });
});

describe('SqliteWorkerStore when its worker dies', () => {
  const stores: MessageStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  it('rejects the calls waiting for it and every later call, logs it, and still closes', async () => {
    const { logger, asLogger } = fakeLogger();
    const store = new SqliteWorkerStore('sqlite::memory:', { logger: asLogger });
    stores.push(store);
    await store.migrate();
    const owner = asUserId('dying');
    const g = (await store.createGroup({ name: 'doomed', createdBy: owner, members: [] }, 1)).id;
    const worker = workerOf(store);
    const stopping = worker.terminate();
    // Sent to a worker that is stopping: never answered.
    const waiting = [store.ping(), store.history(g, { limit: 10 }), store.memberCount(g)];
    await stopping;
    for (const call of waiting) await expect(call).rejects.toThrow(/SQLite store worker exited/);
    await expect(store.getConversation(g)).rejects.toThrow(/SQLite store worker exited/);
    expect(logger.error).toHaveBeenCalledWith({ code: 1 }, 'the SQLite store worker exited');
    await store.close();
    await store.close();
  });

  it('logs an error the worker throws and rejects what waits for it', async () => {
    const { logger, asLogger } = fakeLogger();
    const store = new SqliteWorkerStore('sqlite::memory:', { logger: asLogger });
    stores.push(store);
    await store.migrate();
    // A message the worker cannot take apart: an uncaught exception ends the worker with an
    // 'error' event (the call sent after it is never run).
    workerOf(store).postMessage(null);
    const waiting = store.ping();
    await expect(waiting).rejects.toThrow(/^the SQLite store worker failed: /);
    await expect(store.ping()).rejects.toThrow(/^the SQLite store worker failed: /);
    expect(logger.error).toHaveBeenCalledWith({ err: expect.any(Error) }, 'the SQLite store worker failed');
  });
});

describe('SqliteWorkerStore close', () => {
  it('lets the text index catch up before the worker stops', async () => {
    const database = temporaryDatabase();
    try {
      const store = new SqliteWorkerStore(database.url, { searchIndexDelayMs: 600_000 });
      await store.migrate();
      const [a, b] = [asUserId('c-a'), asUserId('c-b')];
      const g = (await store.createGroup({ name: 'flush', createdBy: a, members: [b] }, 1)).id;
      await store.append([{ conv: g, sender: a, clientMsgId: 'f', body: 'pending wallaby', ts: 1 }]);
      const queued = () => {
        const db = new Database(database.path, { readonly: true });
        try {
          return (db.prepare(UNINDEXED_COUNT_SQL).get() as { n: number }).n;
        } finally {
          db.close();
        }
      };
      expect(queued()).toBe(1);
      await store.close();
      expect(queued()).toBe(0);
      await expect(store.ping()).rejects.toThrow('the SQLite store is closed');
    } finally {
      await database.drop();
    }
  });

  it('does not hold up shutdown past its bound when the worker cannot answer', async () => {
    const database = temporaryDatabase();
    const holder = new Database(database.path);
    try {
      const { logger, asLogger } = fakeLogger();
      const store = new SqliteWorkerStore(database.url, { logger: asLogger, closeWaitMs: 300 });
      await store.migrate();
      const [a, b] = [asUserId('s-a'), asUserId('s-b')];
      const g = (await store.createGroup({ name: 'stuck', createdBy: a, members: [b] }, 1)).id;
      // Another process holds the write lock: the worker's append waits in SQLite's busy
      // timeout (5 s), a native call that neither the close request nor terminate() interrupts.
      holder.exec('BEGIN IMMEDIATE');
      const appended = store.append([{ conv: g, sender: a, clientMsgId: 'x', body: 'stuck', ts: 2 }]);
      appended.catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      await store.close();
      expect(Date.now() - started).toBeLessThan(3000);
      expect(logger.error).toHaveBeenCalledWith(
        { waitedMs: 300 },
        'the SQLite store worker did not close in time',
      );
      await expect(appended).rejects.toThrow('the SQLite store is closed');
      await expect(store.ping()).rejects.toThrow('the SQLite store is closed');
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
      await database.drop();
    }
  });
});
