import { asConversationId, asUserId, type UserId } from '@relay-chat/protocol';
import { openDatabase } from '@relay-chat/service-kit';
import { type Kysely, type Migration, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { parseQuery } from '../search/search-text.js';
import type { ConversationState, MessageStore, SearchCursor } from './message-store.js';
import { runChatMigrations } from './sql-migrator.js';

/**
 * The upgrade suite of the SQL stores: a database built with an older schema (the store's
 * own migrations up to `UpgradeFixture.at`), filled with rows written as the code of that
 * time wrote them, then brought to the latest schema by the store's `migrate()` and read
 * back through the store. Run by `sqlite.test.ts` and `postgres.test.ts`.
 *
 * For a new migration: keep the fixtures (migrations are append-only, so an old database
 * must still upgrade), extend their checks with what the new migration backfills, and
 * add a fixture at the previous latest migration when the new one transforms data that
 * only exists from that version on.
 */
export interface UpgradeBackend {
  /** The store's migrations, in order. */
  migrations: Readonly<Record<string, Migration>>;
  /** A fresh, empty database: its `MESSAGE_STORE_URL` and how to remove it. */
  createDatabase(): Promise<{ url: string; drop: () => Promise<void> }>;
  /** A store on `url`, not migrated yet. */
  open(url: string): MessageStore;
}

/** Data written with the schema as of migration `at`, and what the upgraded store must read back. */
export interface UpgradeFixture {
  /** The last migration applied before `seed` runs. */
  at: string;
  /** Writes rows with plain SQL valid on both SQLite and PostgreSQL at that schema. */
  seed(db: Kysely<unknown>): Promise<void>;
  /** Reads back (and writes on) through the migrated store. */
  check(store: MessageStore): Promise<void>;
}

export function describeUpgrades(name: string, backend: UpgradeBackend): void {
  describe(`MessageStore upgrades: ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    for (const fixture of UPGRADE_FIXTURES) {
      it(`upgrades a database at ${fixture.at} with data to the latest schema`, async () => {
        const names = Object.keys(backend.migrations).sort();
        expect(names, 'the fixture names a migration of this store').toContain(fixture.at);
        const database = await backend.createDatabase();
        cleanups.push(database.drop);

        const old = openDatabase<unknown>(database.url, { variable: 'MESSAGE_STORE_URL' });
        try {
          await runChatMigrations(old.db, backend.migrations, fixture.at);
          await fixture.seed(old.db);
        } finally {
          await old.close();
        }

        const store = backend.open(database.url);
        cleanups.push(() => store.close());
        await store.migrate();
        await fixture.check(store);

        const check = openDatabase<unknown>(database.url, { variable: 'MESSAGE_STORE_URL' });
        try {
          const { rows } = await sql<{ name: string }>`SELECT name FROM chat_migration ORDER BY name`.execute(
            check.db,
          );
          expect(rows.map((r) => r.name)).toEqual(names);
        } finally {
          await check.close();
        }
      });
    }
  });
}

const T = 1_700_000_000_000;
const alice = asUserId('u-alice');
const bob = asUserId('u-bob');
const carol = asUserId('u-carol');
const dave = asUserId('u-dave');
const erin = asUserId('u-erin');

async function insertConversation(
  db: Kysely<unknown>,
  c: {
    id: string;
    kind: 'dm' | 'group' | 'channel';
    name: string | null;
    createdBy: string;
    createdAt: number;
    lastSeq: number;
    lastActivityAt: number;
    dmKey?: string;
  },
): Promise<void> {
  const nameKey = c.kind === 'channel' ? c.name?.toLowerCase() : null;
  await sql`INSERT INTO conversations
      (id, kind, name, name_key, created_by, created_at, last_seq, last_activity_at, dm_key)
    VALUES (${c.id}, ${c.kind}, ${c.name}, ${nameKey}, ${c.createdBy}, ${c.createdAt}, ${c.lastSeq},
      ${c.lastActivityAt}, ${c.dmKey ?? null})`.execute(db);
}

/** Members in join order: [user, last_read_seq, joined_at]. */
async function insertMembers(
  db: Kysely<unknown>,
  conv: string,
  members: [user: string, lastReadSeq: number, joinedAt: number][],
): Promise<void> {
  for (const [user, lastReadSeq, joinedAt] of members) {
    await sql`INSERT INTO members (conv, user_id, last_read_seq, joined_at)
      VALUES (${conv}, ${user}, ${lastReadSeq}, ${joinedAt})`.execute(db);
  }
}

/** Messages with seqs 1, 2, …: [sender, body, ts]. */
async function insertMessages(
  db: Kysely<unknown>,
  conv: string,
  messages: [sender: string, body: string, ts: number][],
): Promise<void> {
  for (const [i, [sender, body, ts]] of messages.entries()) {
    await sql`INSERT INTO messages (conv, seq, id, sender, client_msg_id, body, ts)
      VALUES (${conv}, ${i + 1}, ${`${conv}-m${i + 1}`}, ${sender}, ${`cm-${conv}-${i + 1}`}, ${body}, ${ts})`.execute(
      db,
    );
  }
}

/** The fields of a conversation state that the fixtures compare. */
function shape(s: ConversationState) {
  return {
    id: s.id,
    kind: s.kind,
    name: s.name,
    lastSeq: s.lastSeq,
    lastReadSeq: s.lastReadSeq,
    unread: s.unread,
    memberCount: s.memberCount,
    memberIds: s.memberIds,
    lastActivityAt: s.lastActivityAt,
    last: s.lastMessage && [s.lastMessage.seq, s.lastMessage.from, s.lastMessage.body],
  };
}

/**
 * The schema as of 0002 (conversations with member_count kept by triggers, members, messages),
 * before members.last_sent_seq and the creation index (0003).
 */
const at0002: UpgradeFixture = {
  at: '0002_member_count',
  async seed(db) {
    await insertConversation(db, {
      id: 'dm-ab',
      kind: 'dm',
      name: null,
      createdBy: alice,
      createdAt: T,
      lastSeq: 3,
      lastActivityAt: T + 3000,
      dmKey: '7:u-alice:u-bob',
    });
    await insertMembers(db, 'dm-ab', [
      [alice, 3, T],
      [bob, 2, T],
    ]);
    await insertMessages(db, 'dm-ab', [
      [alice, 'hi bob', T + 1000],
      [bob, 'hi alice', T + 2000],
      [alice, 'lunch?', T + 3000],
    ]);

    await insertConversation(db, {
      id: 'g-trip',
      kind: 'group',
      name: 'Trip',
      createdBy: alice,
      createdAt: T + 10_000,
      lastSeq: 2,
      lastActivityAt: T + 12_000,
    });
    await insertMembers(db, 'g-trip', [
      [alice, 2, T + 10_000],
      [bob, 0, T + 10_000],
      [carol, 1, T + 10_000],
    ]);
    await insertMessages(db, 'g-trip', [
      [carol, 'tickets booked', T + 11_000],
      [alice, 'great', T + 12_000],
    ]);

    await insertConversation(db, {
      id: 'ch-news',
      kind: 'channel',
      name: 'News',
      createdBy: dave,
      createdAt: T + 20_000,
      lastSeq: 2,
      lastActivityAt: T + 22_000,
    });
    await insertMembers(db, 'ch-news', [
      [dave, 0, T + 20_000],
      [bob, 2, T + 20_500],
      [alice, 1, T + 21_500],
    ]);
    await insertMessages(db, 'ch-news', [
      [bob, 'first', T + 21_000],
      [bob, 'second', T + 22_000],
    ]);

    // erin wrote, left and joined again: her message predates her current membership.
    await insertConversation(db, {
      id: 'g-old',
      kind: 'group',
      name: 'Old',
      createdBy: alice,
      createdAt: T + 30_000,
      lastSeq: 2,
      lastActivityAt: T + 36_000,
    });
    await insertMembers(db, 'g-old', [
      [alice, 2, T + 30_000],
      [erin, 1, T + 35_000],
    ]);
    await insertMessages(db, 'g-old', [
      [erin, 'bye', T + 31_000],
      [alice, 'welcome back', T + 36_000],
    ]);

    await insertConversation(db, {
      id: 'g-empty',
      kind: 'group',
      name: 'Empty',
      createdBy: bob,
      createdAt: T + 40_000,
      lastSeq: 0,
      lastActivityAt: T + 40_000,
    });
    await insertMembers(db, 'g-empty', [
      [bob, 0, T + 40_000],
      [alice, 0, T + 40_000],
    ]);
  },

  async check(store) {
    const states = await store.conversationsOf(alice);
    expect(states.map(shape)).toEqual([
      {
        id: 'g-empty',
        kind: 'group',
        name: 'Empty',
        lastSeq: 0,
        lastReadSeq: 0,
        unread: 0,
        memberCount: 2,
        memberIds: [bob, alice],
        lastActivityAt: T + 40_000,
        last: null,
      },
      {
        id: 'g-old',
        kind: 'group',
        name: 'Old',
        lastSeq: 2,
        lastReadSeq: 2,
        unread: 0,
        memberCount: 2,
        memberIds: [alice, erin],
        lastActivityAt: T + 36_000,
        last: [2, alice, 'welcome back'],
      },
      {
        id: 'ch-news',
        kind: 'channel',
        name: 'News',
        lastSeq: 2,
        lastReadSeq: 1,
        unread: 1,
        memberCount: 3,
        memberIds: [dave, bob, alice],
        lastActivityAt: T + 22_000,
        last: [2, bob, 'second'],
      },
      {
        id: 'g-trip',
        kind: 'group',
        name: 'Trip',
        lastSeq: 2,
        lastReadSeq: 2,
        unread: 0,
        memberCount: 3,
        memberIds: [alice, bob, carol],
        lastActivityAt: T + 12_000,
        last: [2, alice, 'great'],
      },
      {
        id: 'dm-ab',
        kind: 'dm',
        name: null,
        lastSeq: 3,
        lastReadSeq: 3,
        unread: 0,
        memberCount: 2,
        memberIds: [alice, bob],
        lastActivityAt: T + 3000,
        last: [3, alice, 'lunch?'],
      },
    ]);
    const firstPage = await store.conversationsOf(alice, { limit: 3 });
    const last = firstPage.at(-1)!;
    const secondPage = await store.conversationsOf(alice, {
      limit: 3,
      before: { lastActivityAt: last.lastActivityAt, id: last.id },
    });
    expect([...firstPage, ...secondPage]).toEqual(states);
    expect((await store.conversationStateOf(asConversationId('g-trip'), bob))?.unread).toBe(2);
    expect((await store.conversationStateOf(asConversationId('g-trip'), carol))?.lastReadSeq).toBe(1);

    expect(
      (await store.history(asConversationId('dm-ab'), { after: 0, limit: 10 })).map((m) => [
        m.seq,
        m.from,
        m.body,
        m.ts,
      ]),
    ).toEqual([
      [1, alice, 'hi bob', T + 1000],
      [2, bob, 'hi alice', T + 2000],
      [3, alice, 'lunch?', T + 3000],
    ]);
    expect((await store.getOrCreateDm(bob, alice, T + 50_000)).conversation.id).toBe('dm-ab');
    expect((await store.listChannels({ userId: carol, q: 'NE', limit: 10 })).map((c) => c.id)).toEqual([
      'ch-news',
    ]);
    expect(await store.memberCount(asConversationId('ch-news'))).toBe(3);

    // Backfilled: who has spoken in a DM or group, since their current join.
    expect(await store.spokeWith(alice, [bob, carol, dave, erin])).toEqual(new Set([bob, carol]));
    expect(await store.spokeWith(bob, [alice, carol, dave])).toEqual(new Set([alice, carol]));
    expect(await store.spokeWith(carol, [alice, bob])).toEqual(new Set([alice]));
    expect(await store.spokeWith(erin, [alice])).toEqual(new Set([alice]));

    expect(await store.conversationsCreatedSince(alice, T)).toBe(2);
    expect(await store.conversationsCreatedSince(alice, T + 10_001)).toBe(1);
    expect(await store.conversationsCreatedSince(bob, 0)).toBe(1);
    expect(await store.conversationsCreatedSince(dave, 0)).toBe(1);

    // Writing continues the stored seqs, with the membership rule and the new tracking.
    const outcomes = await store.append([
      { conv: asConversationId('dm-ab'), sender: bob, clientMsgId: 'after-1', body: 'yes', ts: T + 60_000 },
      {
        conv: asConversationId('g-trip'),
        sender: dave,
        clientMsgId: 'after-2',
        body: 'not mine',
        ts: T + 60_000,
      },
      {
        conv: asConversationId('g-trip'),
        sender: bob,
        clientMsgId: 'after-3',
        body: 'me too',
        ts: T + 60_000,
      },
      {
        conv: asConversationId('g-old'),
        sender: erin,
        clientMsgId: 'after-4',
        body: 'hello again',
        ts: T + 60_000,
      },
      {
        conv: asConversationId('dm-ab'),
        sender: alice,
        clientMsgId: 'cm-dm-ab-1',
        body: 'resent',
        ts: T + 60_000,
      },
    ]);
    expect(
      outcomes.map((o) => ('refused' in o ? o.refused : [o.message.conv, o.message.seq, o.duplicate])),
    ).toEqual([
      ['dm-ab', 4, false],
      'not_member',
      ['g-trip', 3, false],
      ['g-old', 3, false],
      ['dm-ab', 1, true],
    ]);
    expect(await store.spokeWith(carol, [bob])).toEqual(new Set([bob]));
    expect(await store.spokeWith(alice, [erin])).toEqual(new Set([erin]));
    expect((await store.conversationStateOf(asConversationId('dm-ab'), alice))?.unread).toBe(1);
    expect(await store.markRead(asConversationId('dm-ab'), alice, 4)).toBe(4);

    // 0004: no topics, nothing muted or hidden; history carries the stored clientMsgIds.
    for (const s of await store.conversationsOf(alice)) {
      expect([s.id, s.topic, s.muted, s.hidden]).toEqual([s.id, null, false, false]);
    }
    expect(
      (await store.history(asConversationId('dm-ab'), { after: 0, limit: 1 })).map((m) => m.clientMsgId),
    ).toEqual(['cm-dm-ab-1']);
    // Everyone who was a member somewhere is not new: only a newcomer joins default channels.
    for (const known of [alice, bob, carol, dave, erin]) {
      expect(await store.welcome(known, [asConversationId('ch-news')], T + 70_000)).toEqual([]);
    }
    expect(await store.welcome(asUserId('u-frank'), [asConversationId('ch-news')], T + 70_000)).toEqual([
      'ch-news',
    ]);
    // The owner rule reads the old rows: alice made g-trip, bob did not.
    expect(
      await store.updateConversation(asConversationId('g-trip'), alice, { name: 'Trip!', topic: 'June' }),
    ).toMatchObject({ name: 'Trip!', topic: 'June', createdBy: alice });
    await expect(
      store.updateConversation(asConversationId('g-trip'), bob, { name: 'mine' }),
    ).rejects.toMatchObject({ code: 'forbidden' });
    await store.updateSettings(asConversationId('dm-ab'), bob, { hidden: true, muted: true });
    expect(
      (await store.conversationsOf(bob, { limit: 10, visibleOnly: true })).map((s) => s.id),
    ).not.toContain('dm-ab');
  },
};

/**
 * The schema as of 0004 (topics, mute, hidden DMs, seen users), before messages that change
 * (0005: reply, edit, tombstone, thread and change columns, conversations.last_change_seq,
 * the mentions and reactions tables). Old messages must read back as plain messages (none
 * of the optional fields), every conversation at change 0 with no unread mentions, and
 * every kind of change must work on them.
 */
const at0004: UpgradeFixture = {
  at: '0004_manage',
  async seed(db) {
    await insertConversation(db, {
      id: 'g-team',
      kind: 'group',
      name: 'Team',
      createdBy: alice,
      createdAt: T,
      lastSeq: 4,
      lastActivityAt: T + 4000,
    });
    await sql`UPDATE conversations SET topic = ${'plans'}, member_count = 3 WHERE id = 'g-team'`.execute(db);
    await insertMembers(db, 'g-team', [
      [alice, 4, T],
      [bob, 1, T],
      [carol, 0, T],
    ]);
    await sql`UPDATE members SET muted = (1 = 1) WHERE conv = 'g-team' AND user_id = ${carol}`.execute(db);
    await insertMessages(db, 'g-team', [
      [alice, 'hello team', T + 1000],
      [bob, 'hi', T + 2000],
      [carol, 'hey @alice', T + 3000],
      [alice, 'agenda: …', T + 4000],
    ]);
    await sql`INSERT INTO chat_users (user_id, first_seen_at) VALUES (${alice}, ${T}), (${bob}, ${T}), (${carol}, ${T})`.execute(
      db,
    );
  },

  async check(store) {
    const g = asConversationId('g-team');
    const plain = (seq: number, from: UserId, body: string, ts: number) => ({
      conv: g,
      seq,
      id: `g-team-m${seq}`,
      from,
      body,
      ts,
      clientMsgId: `cm-g-team-${seq}`,
    });
    const old = [
      plain(1, alice, 'hello team', T + 1000),
      plain(2, bob, 'hi', T + 2000),
      plain(3, carol, 'hey @alice', T + 3000),
      plain(4, alice, 'agenda: …', T + 4000),
    ];
    expect(await store.history(g, { limit: 10 })).toEqual(old);
    const carolState = (await store.conversationStateOf(g, carol))!;
    expect(carolState).toMatchObject({
      topic: 'plans',
      muted: true,
      lastSeq: 4,
      lastChangeSeq: 0,
      unread: 4,
      unreadMentions: 0,
      mentionSeqs: [],
    });
    const { clientMsgId: _, ...preview } = old[3]!;
    expect(carolState.lastMessage).toEqual(preview);
    expect((await store.conversationsOf(carol)).find((c) => c.id === g)).toEqual(carolState);
    expect(await store.changesSince(g, 0, 10)).toEqual({ messages: [], lastChangeSeq: 0 });
    expect(await store.thread(g, 1, { limit: 10 })).toEqual([]);
    expect((await store.around(g, 2, 3)).map((m) => m.seq)).toEqual([1, 2, 3]);

    // Every kind of change on the old rows, numbered from 1.
    const [replied] = await store.append([
      {
        conv: g,
        sender: bob,
        clientMsgId: 'upgrade-reply',
        body: 'me too @carol',
        ts: T + 10_000,
        replyTo: 1,
        mentions: [carol],
      },
    ]);
    expect(replied).toMatchObject({
      duplicate: false,
      message: { seq: 5, replyTo: 1, threadRoot: 1, mentions: [carol] },
      root: { ...old[0], replyCount: 1, lastReplyAt: T + 10_000, changeSeq: 1 },
    });
    const edited = await store.editMessage({ conv: g, seq: 2, actor: bob, body: 'hi all', now: T + 11_000 });
    expect(edited).toEqual({
      changed: true,
      message: { ...old[1], body: 'hi all', editedAt: T + 11_000, changeSeq: 2 },
    });
    const reacted = await store.react({
      conv: g,
      seq: 4,
      actor: carol,
      emoji: '👍',
      on: true,
      now: T + 12_000,
      maxDistinct: 20,
    });
    expect(reacted.message).toEqual({
      ...old[3],
      reactions: [{ emoji: '👍', count: 1, users: [carol] }],
      changeSeq: 3,
    });
    const deleted = await store.deleteMessage(g, 3, alice, T + 13_000);
    expect(deleted.message).toEqual({ ...old[2], body: '', deleted: true, changeSeq: 4 });
    const changes = await store.changesSince(g, 0, 10);
    expect(changes.lastChangeSeq).toBe(4);
    expect(changes.messages.map((m) => [m.seq, m.changeSeq])).toEqual([
      [1, 1],
      [2, 2],
      [4, 3],
      [3, 4],
    ]);
    expect(await store.conversationStateOf(g, carol)).toMatchObject({
      lastChangeSeq: 4,
      unread: 5,
      unreadMentions: 1,
      mentionSeqs: [5],
    });
    expect((await store.thread(g, 1, { limit: 10 })).map((m) => m.seq)).toEqual([5]);
  },
};

/** Messages of one conversation in one multi-row INSERT: [seq, sender, body, ts]. */
async function insertMessageRows(
  db: Kysely<unknown>,
  conv: string,
  rows: [seq: number, sender: string, body: string, ts: number][],
): Promise<void> {
  const values = rows.map(
    ([seq, sender, body, ts]) =>
      sql`(${conv}, ${seq}, ${`${conv}-m${seq}`}, ${sender}, ${`cm-${conv}-${seq}`}, ${body}, ${ts})`,
  );
  await sql`INSERT INTO messages (conv, seq, id, sender, client_msg_id, body, ts)
    VALUES ${sql.join(values)}`.execute(db);
}

/** Messages in the bulk conversation of at0005: more than one batch of a backfill. */
const BULK = 2500;

/**
 * The schema as of 0005 (messages that change), before message search (0006): the
 * migration must index every live message stored before it — by its current (edited)
 * text, in its normal form, never a deleted one — in the order messages were stored
 * (`ts`, then conversation and seq), and writing must go on indexing from there.
 */
const at0005: UpgradeFixture = {
  at: '0005_changes',
  async seed(db) {
    const convs: [id: string, createdBy: string, members: string[], lastSeq: number][] = [
      ['g-search', alice, [alice, bob], 5],
      ['g-other', bob, [bob, carol], 1],
      ['g-bulk', alice, [alice, bob], BULK],
    ];
    for (const [id, createdBy, members, lastSeq] of convs) {
      await insertConversation(db, {
        id,
        kind: 'group',
        name: id,
        createdBy,
        createdAt: T,
        lastSeq,
        lastActivityAt: T + 20_000 + BULK,
      });
      await insertMembers(
        db,
        id,
        members.map((u) => [u, lastSeq, T]),
      );
    }
    await insertMessageRows(db, 'g-search', [
      [1, alice, 'Deployment plan for Friday', T + 1000],
      [2, bob, 'we deploy on friday', T + 2000],
      [3, bob, 'deploy the secret build', T + 3000],
      [4, alice, 'Café déploiement', T + 4000],
      [5, bob, 'deploy notes', T + 5000],
    ]);
    await insertMessageRows(db, 'g-other', [[1, bob, 'deploy elsewhere', T + 2500]]);
    const bulk: [number, string, string, number][] = [];
    for (let seq = 1; seq <= BULK; seq++) {
      const body = seq === 1 ? 'first needle' : seq === BULK ? 'last needle' : `bulk message ${seq}`;
      bulk.push([seq, seq % 2 === 0 ? alice : bob, body, T + 10_000 + seq]);
    }
    for (let i = 0; i < BULK; i += 500) await insertMessageRows(db, 'g-bulk', bulk.slice(i, i + 500));
    // As 0005's code left them: 3 deleted (a tombstone), 5 edited (changes 1 and 2).
    await sql`UPDATE messages SET body = '', deleted = (1 = 1), change_seq = 1
      WHERE conv = 'g-search' AND seq = 3`.execute(db);
    await sql`UPDATE messages SET body = ${'deploy notes (edited)'}, edited_at = ${T + 9000}, change_seq = 2
      WHERE conv = 'g-search' AND seq = 5`.execute(db);
    // A tombstone that kept its text: the backfill goes by `deleted`, not by an empty body.
    await sql`INSERT INTO messages (conv, seq, id, sender, client_msg_id, body, ts, deleted, change_seq)
      VALUES ('g-other', 2, 'g-other-m2', ${bob}, 'cm-g-other-2', ${'deploy secret'}, ${T + 3500}, (1 = 1), 1)`.execute(
      db,
    );
    await sql`UPDATE conversations SET last_change_seq = 2 WHERE id = 'g-search'`.execute(db);
    await sql`UPDATE conversations SET last_seq = 2, last_change_seq = 1 WHERE id = 'g-other'`.execute(db);
  },

  async check(store) {
    const g = asConversationId('g-search');
    const find = async (userId: UserId, q: string, limit = 50) => {
      const bodies: string[] = [];
      let cursor: SearchCursor | undefined;
      for (let page = 0; page < 1000; page++) {
        const result = await store.search({
          userId,
          query: parseQuery(q),
          limit,
          ...(cursor ? { cursor } : {}),
        });
        bodies.push(...result.hits.map((m) => m.body));
        if (!result.next) return bodies;
        cursor = result.next;
      }
      throw new Error('search did not end');
    };
    // Whole words first, then the rest; the edited text only; no deleted message.
    expect(await find(alice, 'deploy')).toEqual([
      'deploy notes (edited)',
      'we deploy on friday',
      'Deployment plan for Friday',
    ]);
    expect(await find(alice, 'secret')).toEqual([]);
    expect(await find(bob, 'secret')).toEqual([]);
    expect(await find(carol, 'deploy')).toEqual(['deploy elsewhere']);
    expect(await find(alice, 'DEPLOIEMENT')).toEqual(['Café déploiement']);
    // Both ends of the bulk conversation: the backfill went past its first batch.
    expect(await find(alice, 'needle')).toEqual(['last needle', 'first needle']);
    expect(await find(bob, 'bulk message', 700)).toHaveLength(BULK - 2);
    // Oldest stored first: newest first in results, across conversations.
    expect(await find(bob, 'friday')).toEqual(['we deploy on friday', 'Deployment plan for Friday']);
    expect(await find(bob, 'deploy elsewhere OR deploy notes')).toEqual([]);
    const [hit] = (await store.search({ userId: bob, query: parseQuery('edited'), limit: 5 })).hits;
    expect(hit).toMatchObject({ conv: g, seq: 5, body: 'deploy notes (edited)', editedAt: T + 9000 });

    // Writing goes on indexing: a new message comes first, an edit keeps its place, a
    // delete takes it out.
    const [sent] = await store.append([
      { conv: g, sender: bob, clientMsgId: 'after-search', body: 'deploy done', ts: T + 30_000 },
    ]);
    expect(sent).toMatchObject({ duplicate: false, message: { seq: 6 } });
    await store.editMessage({ conv: g, seq: 1, actor: alice, body: 'Deployment plan v2', now: T + 31_000 });
    await store.deleteMessage(g, 2, bob, T + 32_000);
    expect(await find(alice, 'deploy')).toEqual([
      'deploy done',
      'deploy notes (edited)',
      'Deployment plan v2',
    ]);
    expect(await find(alice, 'friday')).toEqual([]);
  },
};

/** Every fixture, oldest schema first. */
export const UPGRADE_FIXTURES: readonly UpgradeFixture[] = [at0002, at0004, at0005];
