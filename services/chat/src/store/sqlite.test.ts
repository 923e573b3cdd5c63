import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asUserId } from '@relay-chat/protocol';
import { waitFor } from '@relay-chat/testkit';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseQuery } from '../search/search-text.js';
import { describeMessageStore } from './contract.js';
import { describeSearch, describeSearchIndexSwitch } from './search-contract.js';
import { SqliteMessageStore, sqliteMigrations } from './sqlite.js';
import { FTS_AUTOMERGE, FTS_CRISISMERGE, UNINDEXED_COUNT_SQL } from './sqlite-search.js';
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

describe('SQLite search, SEARCH_INDEX off and on again', () => {
  const database = temporaryDatabase();
  afterAll(() => database.drop());
  describeSearchIndexSwitch(async (searchIndex) => {
    const store = new SqliteMessageStore(database.url, { searchIndex });
    await store.migrate();
    return store;
  });
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

// The text index is written behind the appends (pending in memory) and caught up before
// every search: these run the index-driven plan, which reads it.
describe('SQLite search, the text index behind the appends', () => {
  const database = temporaryDatabase();
  // No timer: only a burst or a search makes the index catch up, so pending is observable.
  const options = { searchMemberDrivenMax: -1, searchIndexDelayMs: 600_000 };
  const store = new SqliteMessageStore(database.url, options);
  const direct = () => new Database(database.url.slice('sqlite:'.length), { readonly: true });
  /** Messages queued for the index, not yet in it. */
  const queued = () => {
    const db = direct();
    try {
      return (db.prepare(UNINDEXED_COUNT_SQL).get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  beforeAll(() => store.migrate());
  afterAll(async () => {
    await store.close();
    await database.drop();
  });

  const [a, b] = [asUserId('d-a'), asUserId('d-b')];
  const bodiesFound = async (q: string, on = store) =>
    (await on.search({ userId: b, query: parseQuery(q), limit: 50 })).hits.map((m) => m.body);

  it('finds messages appended a moment ago, indexing them first', async () => {
    const g = (await store.createGroup({ name: 'behind', createdBy: a, members: [b] }, 0)).id;
    for (let i = 0; i < 5; i++) {
      await store.append([{ conv: g, sender: a, clientMsgId: `n${i}`, body: `fresh quokka ${i}`, ts: i }]);
    }
    expect(queued()).toBe(5);
    expect(await bodiesFound('quokka')).toHaveLength(5);
    expect(queued()).toBe(0);
  });

  it('catches up on its own after a burst, without a search', async () => {
    const g = (await store.createGroup({ name: 'burst', createdBy: a, members: [b] }, 0)).id;
    const batch = Array.from({ length: 300 }, (_, i) => ({
      conv: g,
      sender: a,
      clientMsgId: `burst${i}`,
      body: `burst wombat ${i}`,
      ts: i,
    }));
    await store.append(batch);
    await waitFor(() => queued() === 0, { what: 'the index to catch up' });
  });

  it('keeps FTS5 merging in the smaller steps migration 0009 set', () => {
    const db = direct();
    try {
      const settings = db
        .prepare("SELECT k, v FROM message_fts_config WHERE k IN ('automerge', 'crisismerge')")
        .all();
      expect(settings).toEqual(
        expect.arrayContaining([
          { k: 'automerge', v: FTS_AUTOMERGE },
          { k: 'crisismerge', v: FTS_CRISISMERGE },
        ]),
      );
    } finally {
      db.close();
    }
  });

  it('catches up a backlog a little per turn, so appends never wait behind all of it', async () => {
    const g = (await store.createGroup({ name: 'backlog', createdBy: a, members: [b] }, 0)).id;
    const burst = (tag: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        conv: g,
        sender: a,
        clientMsgId: `${tag}${i}`,
        body: `backlog kiwi ${tag} ${i}`,
        ts: i,
      }));
    await store.append(burst('first', 600));
    // One turn: the first part of the backlog is indexed, the rest still queued.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const afterOneTurn = queued();
    expect(afterOneTurn).toBeGreaterThan(0);
    expect(afterOneTurn).toBeLessThan(600);
    // An append between two parts commits at once, and joins the queue behind the backlog.
    await store.append(burst('later', 1));
    await waitFor(() => queued() === 0, { what: 'the index to catch up' });
    expect(await bodiesFound('kiwi later')).toEqual(['backlog kiwi later 0']);
    expect(
      (await store.search({ userId: b, query: parseQuery('backlog kiwi first'), limit: 50 })).hits,
    ).toHaveLength(50);
  });

  it('indexes a pending message by its text at catch-up: edited, or not at all when deleted', async () => {
    const g = (await store.createGroup({ name: 'pending', createdBy: a, members: [b] }, 0)).id;
    const [x, y] = await store.append([
      { conv: g, sender: a, clientMsgId: 'px', body: 'draft platypus', ts: 1 },
      { conv: g, sender: a, clientMsgId: 'py', body: 'doomed platypus', ts: 2 },
    ]);
    const seqOf = (o: typeof x) => (o && 'message' in o ? o.message.seq : Number.NaN);
    expect(queued()).toBe(2);
    await store.editMessage({ conv: g, seq: seqOf(x), actor: a, body: 'final echidna', now: 3 });
    await store.deleteMessage(g, seqOf(y), a, 4);
    expect(await bodiesFound('platypus')).toEqual([]);
    expect(await bodiesFound('echidna')).toEqual(['final echidna']);
  });

  it('never reuses an indexed row id for a new message after the last one is deleted', async () => {
    const g = (await store.createGroup({ name: 'reuse', createdBy: a, members: [b] }, 0)).id;
    const [first] = await store.append([
      { conv: g, sender: a, clientMsgId: 'r1', body: 'gone numbat', ts: 1 },
    ]);
    expect(await bodiesFound('numbat')).toEqual(['gone numbat']);
    await store.deleteMessage(g, first && 'message' in first ? first.message.seq : 0, a, 2);
    await store.append([{ conv: g, sender: a, clientMsgId: 'r2', body: 'new bilby', ts: 3 }]);
    expect(await bodiesFound('bilby')).toEqual(['new bilby']);
    expect(await bodiesFound('numbat')).toEqual([]);
  });

  it('indexes what another process left pending (it stopped before catching up)', async () => {
    const g = (await store.createGroup({ name: 'crash', createdBy: a, members: [b] }, 0)).id;
    await store.append([{ conv: g, sender: a, clientMsgId: 'c1', body: 'orphan dingo', ts: 1 }]);
    expect(queued()).toBe(1);
    // A second store on the same file: what a restarted process sees.
    const other = new SqliteMessageStore(database.url, options);
    try {
      expect(await bodiesFound('dingo', other)).toEqual(['orphan dingo']);
    } finally {
      await other.close();
    }
    // The first store still lists it as pending: its catch-up leaves it as the other indexed it.
    expect(await bodiesFound('dingo')).toEqual(['orphan dingo']);
    expect(queued()).toBe(0);
  });

  it('finds the messages a store left unindexed, after the last indexed one of each conversation', async () => {
    const g = (await store.createGroup({ name: 'left', createdBy: a, members: [b] }, 0)).id;
    const appendOne = async (tag: string, ts: number) => {
      const [o] = await store.append([{ conv: g, sender: a, clientMsgId: tag, body: `${tag} quoll`, ts }]);
      return o && 'message' in o ? o.message.seq : Number.NaN;
    };
    await appendOne('kept', 1);
    const last = await appendOne('erased', 2);
    expect(await bodiesFound('quoll')).toEqual(['erased quoll', 'kept quoll']);
    // The last indexed message is deleted: the conversation's indexed prefix ends earlier now.
    await store.deleteMessage(g, last, a, 3);
    await appendOne('late', 4);
    await appendOne('later', 5);
    expect(queued()).toBe(2);
    // What a process started on this file now sees (this store has not caught up).
    const restarted = new SqliteMessageStore(database.url, options);
    try {
      expect(await bodiesFound('quoll', restarted)).toEqual(['later quoll', 'late quoll', 'kept quoll']);
    } finally {
      await restarted.close();
    }
    expect(await bodiesFound('quoll')).toEqual(['later quoll', 'late quoll', 'kept quoll']);
  });
});

describe('SQLite first visits', () => {
  let database: { url: string; drop: () => Promise<void> };
  let store: SqliteMessageStore;
  beforeAll(async () => {
    database = temporaryDatabase();
    store = new SqliteMessageStore(database.url);
    await store.migrate();
  });
  afterAll(async () => {
    await store.close();
    await database.drop();
  });

  it('of one event-loop turn commit in one transaction, each visit failing alone', async () => {
    const owner = asUserId('owner');
    const channel = await store.createChannel({ name: 'lobby', createdBy: owner }, 1);
    const internals = store as unknown as {
      sqlite: { transaction: (...args: never[]) => unknown };
      st: { insertSeenUser: { run: (user: string, now: number) => { changes: number } } };
    };
    const transactions = vi.spyOn(internals.sqlite, 'transaction');
    const insertSeen = internals.st.insertSeenUser;
    const run = insertSeen.run.bind(insertSeen);
    const seen = vi.spyOn(insertSeen, 'run').mockImplementation((user, now) => {
      if (user === 'user-13') throw new Error('disk says no');
      return run(user, now);
    });
    try {
      const users = Array.from({ length: 200 }, (_, i) => asUserId(`user-${i}`));
      const visits = await Promise.allSettled(users.map((u) => store.welcome(u, [channel.id], 2)));
      // The batch and the per-visit savepoint: two transaction functions for 200 visits.
      expect(transactions).toHaveBeenCalledTimes(2);
      expect(visits[13]).toMatchObject({ status: 'rejected', reason: { message: 'disk says no' } });
      const joined = visits.filter((v) => v.status === 'fulfilled').map((v) => v.value);
      expect(joined).toEqual(Array.from({ length: 199 }, () => [channel.id]));
      expect((await store.conversationsOf(asUserId('user-12'))).map((s) => s.id)).toEqual([channel.id]);
      expect(await store.conversationsOf(asUserId('user-13'))).toEqual([]);
      // A second visit joins nothing.
      seen.mockRestore();
      expect(await store.welcome(asUserId('user-12'), [channel.id], 3)).toEqual([]);
      expect(await store.welcome(asUserId('user-13'), [channel.id], 3)).toEqual([channel.id]);
    } finally {
      transactions.mockRestore();
      seen.mockRestore();
    }
  });
});
