import { randomUUID } from 'node:crypto';
import {
  asConversationId,
  asUserId,
  ChatError,
  type ConversationId,
  type ErrorCode,
  LIMITS,
  MEMBERS_PREVIEW,
  SYSTEM_USER_ID,
  type UserId,
} from '@relay-chat/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AppendInput,
  AppendOutcome,
  AppendResult,
  ConversationCursor,
  ConversationRecord,
  ConversationState,
  MessageStore,
} from './message-store.js';
import { describeSearch } from './search-contract.js';

/**
 * The one contract suite every `MessageStore` passes (SQLite, PostgreSQL, MongoDB).
 *
 * `create` returns a store that has NOT been migrated yet (the suite migrates it, twice,
 * to check that migrating is idempotent) and a `cleanup` that closes the store and removes
 * its data. One store serves the whole suite: every test uses its own random users and
 * channel names, so tests never see each other's rows.
 */
export interface MessageStoreHarness {
  create: () => Promise<{ store: MessageStore; cleanup: () => Promise<void> }>;
}

const CONCURRENT_WRITERS = 10;
const MESSAGES_PER_WRITER = 200;

export function describeMessageStore(name: string, harness: MessageStoreHarness): void {
  describe(`MessageStore contract: ${name}`, () => {
    let store: MessageStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      ({ store, cleanup } = await harness.create());
      await store.migrate();
      await store.migrate();
    });
    afterAll(async () => {
      await cleanup?.();
    });

    const user = (): UserId => asUserId(`u-${randomUUID()}`);
    const tag = () => randomUUID().slice(0, 8);
    let clock = 1_700_000_000_000;
    /** Strictly increasing times, so activity order is unambiguous. */
    const now = () => (clock += 1000);
    const msg = (
      conv: ConversationId,
      sender: UserId,
      body = 'hi',
      clientMsgId: string = randomUUID(),
    ): AppendInput => ({
      conv,
      sender,
      clientMsgId,
      body,
      ts: now(),
    });
    /** Appends a batch whose every input must be stored (or found stored). */
    const appendAll = async (inputs: AppendInput[]) => (await store.append(inputs)).map(stored);
    const appendOne = async (input: AppendInput) => (await appendAll([input]))[0]!;
    async function group(...members: UserId[]) {
      const [createdBy, ...rest] = members;
      return store.createGroup({ name: `g-${tag()}`, createdBy: createdBy!, members: rest }, now());
    }

    describe('lifecycle', () => {
      it('answers ping once migrated (migrating twice is harmless)', async () => {
        await expect(store.ping()).resolves.not.toThrow();
      });
    });

    describe('conversations', () => {
      it('creates one DM per pair, the same whichever user asks first', async () => {
        const [a, b] = [user(), user()];
        const t = now();
        const first = await store.getOrCreateDm(a, b, t);
        expect(first.created).toBe(true);
        expect(first.conversation).toMatchObject({ kind: 'dm', name: null, createdBy: a, createdAt: t });
        expect(first.conversation).toMatchObject({ lastSeq: 0, lastActivityAt: t });
        const again = await store.getOrCreateDm(b, a, now());
        expect(again).toEqual({ conversation: first.conversation, created: false });
        expect(await store.listMembers(first.conversation.id)).toEqual([a, b]);
        expect(await store.getConversation(first.conversation.id)).toEqual(first.conversation);
      });

      it('creates exactly one DM under concurrent calls in both argument orders', async () => {
        const [a, b] = [user(), user()];
        const t = now();
        const calls = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            i % 2 ? store.getOrCreateDm(a, b, t) : store.getOrCreateDm(b, a, t),
          ),
        );
        expect(new Set(calls.map((c) => c.conversation.id)).size).toBe(1);
        expect(calls.filter((c) => c.created)).toHaveLength(1);
        expect(await store.memberCount(calls[0]!.conversation.id)).toBe(2);
      });

      it('refuses a DM of a user with themself', async () => {
        const a = user();
        await expectChatError(store.getOrCreateDm(a, a, now()), 'validation_failed');
      });

      it('creates a group with the creator first and each member once', async () => {
        const [a, b, c] = [user(), user(), user()];
        const t = now();
        const g = await store.createGroup({ name: 'Trip', createdBy: a, members: [b, a, c, b] }, t);
        expect(g).toMatchObject({ kind: 'group', name: 'Trip', createdBy: a, createdAt: t, lastSeq: 0 });
        expect(await store.listMembers(g.id)).toEqual([a, b, c]);
        const twin = await store.createGroup({ name: 'Trip', createdBy: b, members: [] }, now());
        expect(twin.id).not.toBe(g.id);
      });

      it('creates a channel its creator has joined, with a name unique regardless of case', async () => {
        const [a, b] = [user(), user()];
        const name = `News-${tag()}`;
        const ch = await store.createChannel({ name, createdBy: a }, now());
        expect(ch).toMatchObject({ kind: 'channel', name, createdBy: a, lastSeq: 0 });
        expect(await store.listMembers(ch.id)).toEqual([a]);
        await expectChatError(
          store.createChannel({ name: name.toUpperCase(), createdBy: b }, now()),
          'conflict',
        );
        await expectChatError(store.createChannel({ name, createdBy: b }, now()), 'conflict');
      });

      it('lets exactly one of several concurrent creators of a channel name win', async () => {
        const name = `race-${tag()}`;
        const outcomes = await Promise.allSettled(
          Array.from({ length: 6 }, (_, i) =>
            store.createChannel({ name: i % 2 ? name : name.toUpperCase(), createdBy: user() }, now()),
          ),
        );
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        for (const o of outcomes) if (o.status === 'rejected') expect(errorCode(o.reason)).toBe('conflict');
      });

      it('returns undefined for an unknown conversation', async () => {
        expect(await store.getConversation(asConversationId(randomUUID()))).toBeUndefined();
      });

      it('lists channels by name with prefix search, joined flag, member count and pages', async () => {
        const prefix = `dir${tag()}-`;
        const [a, b] = [user(), user()];
        const names = ['delta', 'Alpha', 'charlie', 'Bravo', 'echo'].map((n) => prefix + n);
        const ids = new Map<string, ConversationId>();
        for (const n of names) ids.set(n, (await store.createChannel({ name: n, createdBy: a }, now())).id);
        await store.addMember(ids.get(`${prefix}charlie`)!, b, now());
        await store.createGroup({ name: `${prefix}group-not-listed`, createdBy: a, members: [] }, now());

        const all = await store.listChannels({ userId: b, q: prefix.toUpperCase(), limit: 10 });
        expect(all.map((c) => c.name)).toEqual(
          ['Alpha', 'Bravo', 'charlie', 'delta', 'echo'].map((n) => prefix + n),
        );
        const charlie = all.find((c) => c.name === `${prefix}charlie`)!;
        expect(charlie).toMatchObject({ id: ids.get(`${prefix}charlie`), joined: true, memberCount: 2 });
        expect(all.filter((c) => c.joined)).toHaveLength(1);
        expect(all.every((c) => typeof c.lastActivityAt === 'number')).toBe(true);

        const page1 = await store.listChannels({ userId: b, q: prefix, limit: 2 });
        const page2 = await store.listChannels({ userId: b, q: prefix, limit: 2, after: page1.at(-1)!.name });
        const page3 = await store.listChannels({ userId: b, q: prefix, limit: 2, after: page2.at(-1)!.name });
        expect([...page1, ...page2, ...page3].map((c) => c.id)).toEqual(all.map((c) => c.id));
        expect(page3).toHaveLength(1);
        expect(await store.listChannels({ userId: b, q: prefix, limit: 0 })).toEqual([]);

        expect(
          (await store.listChannels({ userId: b, q: `${prefix}CH`, limit: 10 })).map((c) => c.name),
        ).toEqual([`${prefix}charlie`]);
        expect(await store.listChannels({ userId: b, q: `${prefix}%`, limit: 10 })).toEqual([]);
        expect(await store.listChannels({ userId: b, q: `${prefix}_lpha`, limit: 10 })).toEqual([]);
      });

      it('lists channels without a query, in name order', async () => {
        await store.createChannel({ name: `zz-${tag()}`, createdBy: user() }, now());
        const list = await store.listChannels({ userId: user(), limit: 1000 });
        const keys = list.map((c) => c.name.toLowerCase());
        expect(keys.length).toBeGreaterThan(0);
        expect([...keys].sort()).toEqual(keys);
      });
    });

    describe('membership', () => {
      it('adds idempotently, counts, lists in join order and removes', async () => {
        const [a, b, c] = [user(), user(), user()];
        const ch = await store.createChannel({ name: `m-${tag()}`, createdBy: a }, now());
        expect(await store.isMember(ch.id, b)).toBe(false);
        expect(await store.addMember(ch.id, b, now())).toBe(true);
        expect(await store.addMember(ch.id, b, now())).toBe(false);
        expect(await store.addMember(ch.id, c, now())).toBe(true);
        expect(await store.isMember(ch.id, b)).toBe(true);
        expect(await store.memberCount(ch.id)).toBe(3);
        expect(await store.listMembers(ch.id)).toEqual([a, b, c]);
        expect(await store.listMembers(ch.id, 2)).toEqual([a, b]);
        expect(await store.listMembers(ch.id, 0)).toEqual([]);
        expect(await store.removeMember(ch.id, b)).toBe(true);
        expect(await store.removeMember(ch.id, b)).toBe(false);
        expect(await store.isMember(ch.id, b)).toBe(false);
        expect(await store.listMembers(ch.id)).toEqual([a, c]);
        expect(await store.memberCount(ch.id)).toBe(2);
        expect((await store.conversationStateOf(ch.id, a))?.memberCount).toBe(2);
        expect(await store.addMember(ch.id, b, now())).toBe(true);
        expect(await store.listMembers(ch.id)).toEqual([a, c, b]);
        expect(await store.memberCount(ch.id)).toBe(3);
        expect((await store.conversationsOf(c)).find((x) => x.id === ch.id)?.memberCount).toBe(3);
      });

      it('refuses a member for an unknown conversation with not_found', async () => {
        await expectChatError(store.addMember(asConversationId(randomUUID()), user(), now()), 'not_found');
      });

      it('starts a late joiner with everything before the join read', async () => {
        const [a, b] = [user(), user()];
        const ch = await store.createChannel({ name: `late-${tag()}`, createdBy: a }, now());
        await appendAll([msg(ch.id, a), msg(ch.id, a)]);
        await store.addMember(ch.id, b, now());
        expect(await store.conversationStateOf(ch.id, b)).toMatchObject({
          lastSeq: 2,
          lastReadSeq: 2,
          unread: 0,
        });
        await appendOne(msg(ch.id, a));
        expect(await store.conversationStateOf(ch.id, b)).toMatchObject({
          lastSeq: 3,
          lastReadSeq: 2,
          unread: 1,
        });
      });
    });

    describe('conversationsOf', () => {
      it('gives each of many users asking at once their own list, in activity order', async () => {
        const [a, b, c, d] = [user(), user(), user(), user()];
        const ab = (await store.getOrCreateDm(a, b, now())).conversation;
        const abc = await group(a, b, c);
        await appendOne(msg(ab.id, a, 'later'));
        const lists = await Promise.all([a, b, c, d, a].map((u) => store.conversationsOf(u)));
        expect(lists.map((l) => l.map((s) => s.id))).toEqual([
          [ab.id, abc.id],
          [ab.id, abc.id],
          [abc.id],
          [],
          [ab.id, abc.id],
        ]);
        expect(lists[1]![0]).toMatchObject({ unread: 1, lastReadSeq: 0 });
        expect(lists[0]![0]).toMatchObject({ unread: 0, lastReadSeq: 1 });
      });

      it("lists only the user's conversations, most recent activity first, with read state", async () => {
        const [a, b, c] = [user(), user(), user()];
        const dm = (await store.getOrCreateDm(a, b, now())).conversation;
        const g = await group(a, b, c);
        const ch = await store.createChannel({ name: `c-${tag()}`, createdBy: c }, now());
        await store.addMember(ch.id, a, now());
        await group(b, c); // not a's

        await appendOne(msg(dm.id, b, 'one'));
        const last = await appendOne(msg(dm.id, b, 'two'));
        const list = await store.conversationsOf(a);
        expect(list.map((s) => s.id)).toEqual([dm.id, ch.id, g.id]);
        const dmState = list[0]!;
        expect(dmState).toMatchObject({ kind: 'dm', lastSeq: 2, lastReadSeq: 0, unread: 2, memberCount: 2 });
        expect(dmState.memberIds).toEqual([a, b]);
        expect(dmState.lastActivityAt).toBe(last.message.ts);
        expect(dmState.lastMessage).toMatchObject({
          conv: dm.id,
          seq: 2,
          id: last.message.id,
          from: b,
          body: 'two',
        });
        expect(list[1]).toMatchObject({
          kind: 'channel',
          memberIds: [c, a],
          memberCount: 2,
          lastMessage: null,
        });
        expect(list[2]).toMatchObject({ kind: 'group', memberIds: [a, b, c], unread: 0, lastSeq: 0 });

        await appendOne(msg(g.id, c));
        expect((await store.conversationsOf(a)).map((s) => s.id)).toEqual([g.id, dm.id, ch.id]);
        expect(await store.conversationsOf(user())).toEqual([]);
        expect(await store.conversationStateOf(dm.id, a)).toEqual(dmState);
        expect(await store.conversationStateOf(dm.id, c)).toBeUndefined();
      });

      it(`previews at most ${MEMBERS_PREVIEW} members in join order with the exact count`, async () => {
        const owner = user();
        const ch = await store.createChannel({ name: `big-${tag()}`, createdBy: owner }, now());
        const others = Array.from({ length: MEMBERS_PREVIEW + 5 }, user);
        for (const u of others) await store.addMember(ch.id, u, now());
        const state = (await store.conversationsOf(owner)).find((s) => s.id === ch.id)!;
        expect(state.memberCount).toBe(MEMBERS_PREVIEW + 6);
        expect(state.memberIds).toEqual([owner, ...others].slice(0, MEMBERS_PREVIEW));
      });
    });

    describe('append', () => {
      it('numbers each conversation gaplessly from 1 and returns results in input order', async () => {
        const [a, b] = [user(), user()];
        const x = await group(a, b);
        const y = await group(a, b);
        const inputs = [msg(x.id, a, 'x1'), msg(y.id, b, 'y1'), msg(x.id, b, 'x2'), msg(x.id, a, 'x3')];
        const results = await appendAll(inputs);
        expect(results.map((r) => [r.message.conv, r.message.seq, r.duplicate])).toEqual([
          [x.id, 1, false],
          [y.id, 1, false],
          [x.id, 2, false],
          [x.id, 3, false],
        ]);
        results.forEach((r, i) => {
          const input = inputs[i]!;
          expect(r.message).toMatchObject({ from: input.sender, body: input.body, ts: input.ts });
          expect(r.message.clientMsgId).toBe(input.clientMsgId);
        });
        expect(new Set(results.map((r) => r.message.id)).size).toBe(4);
        expect((await appendOne(msg(x.id, b))).message.seq).toBe(4);
        expect((await store.getConversation(x.id))!.lastSeq).toBe(4);
        expect((await store.getConversation(y.id))!.lastSeq).toBe(1);
      });

      it('returns an empty result for an empty batch', async () => {
        expect(await store.append([])).toEqual([]);
      });

      it('stores a resent (sender, clientMsgId) once and returns the original as a duplicate', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        const first = await appendOne(msg(g.id, a, 'original', 'cm-1'));
        const again = await appendOne(msg(g.id, a, 'edited on retry', 'cm-1'));
        expect(again).toEqual({ message: first.message, duplicate: true });
        const other = await appendOne(msg(g.id, b, 'same id, other sender', 'cm-1'));
        expect(other).toMatchObject({ duplicate: false, message: { seq: 2, from: b } });
        expect((await store.getConversation(g.id))!.lastSeq).toBe(2);
        expect((await store.history(g.id, { limit: 10 })).map((m) => m.body)).toEqual([
          'original',
          'same id, other sender',
        ]);
      });

      it('treats a repeat inside one batch and across batches as duplicates', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        const m1 = msg(g.id, a, 'm1');
        const m2 = msg(g.id, b, 'm2');
        const first = await appendAll([m1, { ...m1, body: 'again' }, m2, m1]);
        expect(first.map((r) => [r.message.seq, r.duplicate])).toEqual([
          [1, false],
          [1, true],
          [2, false],
          [1, true],
        ]);
        expect(first[1]!.message).toEqual(first[0]!.message);
        const second = await appendAll([m2, msg(g.id, a, 'm3'), m1]);
        expect(second.map((r) => [r.message.seq, r.duplicate])).toEqual([
          [2, true],
          [3, false],
          [1, true],
        ]);
        expect(second[0]!.message).toEqual(first[2]!.message);
        expect((await store.history(g.id, { limit: 10 })).map((m) => m.seq)).toEqual([1, 2, 3]);
      });

      it("moves the sender's read marker to their message and counts it unread for others", async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendAll([msg(g.id, a), msg(g.id, b), msg(g.id, a)]);
        expect(await store.conversationStateOf(g.id, a)).toMatchObject({ lastReadSeq: 3, unread: 0 });
        expect(await store.conversationStateOf(g.id, b)).toMatchObject({ lastReadSeq: 2, unread: 1 });
        await appendOne(msg(g.id, b));
        expect(await store.conversationStateOf(g.id, a)).toMatchObject({
          lastSeq: 4,
          lastReadSeq: 3,
          unread: 1,
        });
      });

      it('updates the conversation activity time to its newest message', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        const r = await appendOne(msg(g.id, a));
        expect((await store.getConversation(g.id))!.lastActivityAt).toBe(r.message.ts);
      });

      it('stores each message of a retried batch once', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        const good = [msg(g.id, a, 'one'), msg(g.id, b, 'two')];
        const retried = await appendAll(good);
        expect(retried.map((r) => [r.message.seq, r.duplicate])).toEqual([
          [1, false],
          [2, false],
        ]);
        const again = await appendAll(good);
        expect(again.map((r) => [r.message.id, r.duplicate])).toEqual(
          retried.map((r) => [r.message.id, true]),
        );
        expect((await store.history(g.id, { limit: 10 })).map((m) => m.body)).toEqual(['one', 'two']);
      });

      it('refuses text a backend cannot keep (U+0000) with validation_failed and stores nothing', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await expectChatError(
          store.append([msg(g.id, a, 'fine'), msg(g.id, a, 'nul \u0000 inside')]),
          'validation_failed',
        );
        await expectChatError(store.append([msg(g.id, a, 'x', 'id\u0000')]), 'validation_failed');
        expect((await store.getConversation(g.id))!.lastSeq).toBe(0);
        await expectChatError(
          store.createGroup({ name: 'a\u0000b', createdBy: a, members: [] }, now()),
          'validation_failed',
        );
        await expectChatError(
          store.createChannel({ name: `c\u0000${tag()}`, createdBy: a }, now()),
          'validation_failed',
        );
      });
    });

    describe('membership at commit', () => {
      /** An outcome as [seq] when stored, or the refusal. */
      const summary = (outcomes: AppendOutcome[]) =>
        outcomes.map((o) => ('refused' in o ? o.refused : [o.message.conv, o.message.seq, o.duplicate]));

      it('refuses a sender who is not a member with not_member, taking no seq', async () => {
        const [a, b, stranger] = [user(), user(), user()];
        const g = await group(a, b);
        const ch = await store.createChannel({ name: `open-${tag()}`, createdBy: a }, now());
        expect(await store.append([msg(g.id, stranger)])).toEqual([{ refused: 'not_member' }]);
        expect(await store.append([msg(ch.id, stranger)])).toEqual([{ refused: 'not_member' }]);
        expect((await store.getConversation(g.id))!.lastSeq).toBe(0);
        expect(await store.history(g.id, { limit: 10 })).toEqual([]);
        expect((await appendOne(msg(g.id, a))).message.seq).toBe(1);
        await store.addMember(ch.id, stranger, now());
        expect((await appendOne(msg(ch.id, stranger))).message.seq).toBe(1);
      });

      it('refuses a message to an unknown conversation with not_found and stores the rest of its batch', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        const nowhere = randomUUID();
        const outcomes = await store.append([
          msg(g.id, a, 'one'),
          msg(asConversationId(nowhere), a),
          msg(g.id, b, 'two'),
        ]);
        expect(summary(outcomes)).toEqual([[g.id, 1, false], 'not_found', [g.id, 2, false]]);
        expect((await store.history(g.id, { limit: 10 })).map((m) => m.body)).toEqual(['one', 'two']);
        expect(await store.getConversation(asConversationId(nowhere))).toBeUndefined();
      });

      it("keeps the others' seqs gapless around refused inputs in the middle of a batch", async () => {
        const [a, b, stranger] = [user(), user(), user()];
        const g = await group(a, b);
        const h = await group(a, b);
        const outcomes = await store.append([
          msg(g.id, a, 'g1'),
          msg(g.id, stranger, 'no'),
          msg(h.id, b, 'h1'),
          msg(asConversationId(randomUUID()), a, 'nowhere'),
          msg(g.id, b, 'g2'),
          msg(h.id, stranger, 'no'),
          msg(g.id, a, 'g3'),
        ]);
        expect(summary(outcomes)).toEqual([
          [g.id, 1, false],
          'not_member',
          [h.id, 1, false],
          'not_found',
          [g.id, 2, false],
          'not_member',
          [g.id, 3, false],
        ]);
        expect((await store.history(g.id, { after: 0, limit: 10 })).map((m) => [m.seq, m.body])).toEqual([
          [1, 'g1'],
          [2, 'g2'],
          [3, 'g3'],
        ]);
        expect((await store.history(h.id, { after: 0, limit: 10 })).map((m) => m.seq)).toEqual([1]);
        expect(await store.conversationStateOf(g.id, a)).toMatchObject({ lastSeq: 3, lastReadSeq: 3 });
        expect(await store.conversationStateOf(g.id, b)).toMatchObject({ lastSeq: 3, lastReadSeq: 2 });
        expect(await store.conversationStateOf(g.id, stranger)).toBeUndefined();
        expect((await appendOne(msg(g.id, b))).message.seq).toBe(4);
      });

      it('refuses a member who left, and accepts them again once they rejoin', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        expect((await appendOne(msg(g.id, b))).message.seq).toBe(1);
        await store.removeMember(g.id, b);
        expect(summary(await store.append([msg(g.id, b), msg(g.id, a)]))).toEqual([
          'not_member',
          [g.id, 2, false],
        ]);
        await store.addMember(g.id, b, now());
        expect((await appendOne(msg(g.id, b))).message.seq).toBe(3);
      });

      it('returns a stored message as a duplicate even after its sender left', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        const first = await appendOne(msg(g.id, b, 'sent', 'cm-left'));
        await store.removeMember(g.id, b);
        expect(await store.append([msg(g.id, b, 'retried', 'cm-left')])).toEqual([
          { message: first.message, duplicate: true },
        ]);
        expect((await store.getConversation(g.id))!.lastSeq).toBe(1);
      });

      it('gives a repeat within a batch the outcome of its first input, refusal included', async () => {
        const [a, b, stranger] = [user(), user(), user()];
        const g = await group(a, b);
        const hostile = msg(g.id, stranger, 'x');
        const mine = msg(g.id, a, 'y');
        const outcomes = await store.append([hostile, mine, { ...hostile }, { ...mine }]);
        expect(summary(outcomes)).toEqual(['not_member', [g.id, 1, false], 'not_member', [g.id, 1, true]]);
      });

      it('ends a race between a leave and appends consistently', async () => {
        for (let round = 0; round < 15; round++) {
          const [a, leaver] = [user(), user()];
          const g = await group(a, leaver);
          const sends = Array.from({ length: 6 }, (_, i) => [
            msg(g.id, leaver, `l${i}`),
            msg(g.id, a, `a${i}`),
          ]);
          const [before, removed, after] = await Promise.all([
            Promise.all(sends.slice(0, 3).map((batch) => store.append(batch))),
            store.removeMember(g.id, leaver),
            Promise.all(sends.slice(3).map((batch) => store.append(batch))),
          ]);
          expect(removed).toBe(true);
          const outcomes = [...before, ...after].flat();
          const storedIds: string[] = [];
          for (const [i, o] of outcomes.entries()) {
            // Every bystander message is stored; every leaver message is stored or refused.
            if (i % 2 === 1) expect('refused' in o).toBe(false);
            if ('refused' in o) expect(o.refused).toBe('not_member');
            else storedIds.push(o.message.id);
          }
          const history = await store.history(g.id, { after: 0, limit: 100 });
          expect(history.map((m) => m.seq)).toEqual(history.map((_, i) => i + 1));
          expect(new Set(history.map((m) => m.id))).toEqual(new Set(storedIds));
          expect((await store.getConversation(g.id))!.lastSeq).toBe(storedIds.length);
          expect(await store.isMember(g.id, leaver)).toBe(false);
          expect(await store.memberCount(g.id)).toBe(1);
          expect(await store.append([msg(g.id, leaver)])).toEqual([{ refused: 'not_member' }]);
        }
      }, 60_000);
    });

    describe('conversationsOf pages', () => {
      const cursorOf = (s: ConversationState): ConversationCursor => ({
        lastActivityAt: s.lastActivityAt,
        id: s.id,
      });
      async function allPages(userId: UserId, limit: number, between?: () => Promise<void>) {
        const pages: ConversationState[][] = [];
        let before: ConversationCursor | undefined;
        for (let i = 0; i < 100; i++) {
          const page = await store.conversationsOf(userId, before ? { limit, before } : { limit });
          expect(page.length).toBeLessThanOrEqual(limit);
          if (page.length === 0) break;
          pages.push(page);
          before = cursorOf(page.at(-1)!);
          await between?.();
        }
        return pages;
      }

      it('covers every conversation exactly once, most recent activity first, ties in one total order', async () => {
        const [u, v] = [user(), user()];
        const tied = now();
        const convs = [
          ...(await Promise.all(
            [0, 1, 2].map(() => store.createGroup({ name: 'tie', createdBy: u, members: [v] }, tied)),
          )),
          (await store.getOrCreateDm(u, v, now())).conversation,
          await store.createChannel({ name: `p-${tag()}`, createdBy: u }, now()),
          await group(v, u),
          await group(u),
        ];
        await appendOne(msg(convs[1]!.id, v));
        await appendOne(msg(convs[4]!.id, u));
        const all = await store.conversationsOf(u);
        expect(all.map((s) => s.id).sort()).toEqual(convs.map((c) => c.id).sort());
        for (let i = 1; i < all.length; i++) {
          expect(all[i - 1]!.lastActivityAt).toBeGreaterThanOrEqual(all[i]!.lastActivityAt);
        }
        for (const limit of [1, 2, 3, 7, 50]) {
          const pages = await allPages(u, limit);
          expect(pages.flat()).toEqual(all);
        }
        expect(await store.conversationsOf(u, { limit: 0 })).toEqual([]);
        expect(await store.conversationsOf(u, { limit: 10, before: cursorOf(all.at(-1)!) })).toEqual([]);
        expect(await store.conversationsOf(user(), { limit: 10 })).toEqual([]);
      });

      it('never repeats or skips a conversation that did not move while others get new messages', async () => {
        const [u, v] = [user(), user()];
        const convs: ConversationRecord[] = [];
        for (let i = 0; i < 12; i++) convs.push(await group(u, v));
        const moved = new Set<ConversationId>();
        let step = 0;
        // Between pages, and while the next page is read, new messages move conversations
        // to the front: one already listed, one not listed yet.
        const pages = await allPages(u, 3, async () => {
          const targets = [convs[step]!, convs[convs.length - 1 - step]!];
          step += 1;
          for (const t of targets) moved.add(t.id);
          await Promise.all([
            ...targets.map((t) => appendOne(msg(t.id, v))),
            store.conversationsOf(u, { limit: 3 }),
          ]);
        });
        const listed = pages.flat().map((s) => s.id);
        for (const c of convs) {
          if (moved.has(c.id)) continue;
          expect(
            listed.filter((id) => id === c.id),
            `conversation ${c.id}`,
          ).toHaveLength(1);
        }
      });

      it('refuses a malformed cursor with validation_failed', async () => {
        const u = user();
        for (const lastActivityAt of [-1, 1.5, Number.NaN]) {
          await expectChatError(
            store.conversationsOf(u, { limit: 5, before: { lastActivityAt, id: asConversationId('x') } }),
            'validation_failed',
          );
        }
        await expectChatError(
          store.conversationsOf(u, {
            limit: 5,
            before: { lastActivityAt: 1, id: asConversationId('a\u0000') },
          }),
          'validation_failed',
        );
      });
    });

    describe('managing conversations', () => {
      it('renames a group and sets or clears its topic, as its owner, for every member to see', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        expect(g.topic).toBeNull();
        const renamed = await store.updateConversation(g.id, a, { name: 'Trip 2', topic: 'June' });
        expect(renamed).toEqual({ ...g, name: 'Trip 2', topic: 'June' });
        expect(await store.getConversation(g.id)).toEqual(renamed);
        expect(await store.conversationStateOf(g.id, b)).toMatchObject({ name: 'Trip 2', topic: 'June' });
        expect(await store.updateConversation(g.id, a, { topic: null })).toMatchObject({
          name: 'Trip 2',
          topic: null,
        });
        expect(await store.updateConversation(g.id, a, { name: 'Trip 3' })).toMatchObject({ topic: null });
        expect((await store.conversationsOf(b)).find((s) => s.id === g.id)).toMatchObject({
          name: 'Trip 3',
          topic: null,
        });
      });

      it('renames a channel under its unique name: a taken one is a conflict, the old one is free again', async () => {
        const a = user();
        const [first, second, third] = [`r1-${tag()}`, `r2-${tag()}`, `r3-${tag()}`];
        const ch = await store.createChannel({ name: first, createdBy: a }, now());
        await store.createChannel({ name: second, createdBy: a }, now());
        await expectChatError(store.updateConversation(ch.id, a, { name: second.toUpperCase() }), 'conflict');
        expect((await store.getConversation(ch.id))?.name).toBe(first);
        await store.updateConversation(ch.id, a, { name: third, topic: 'news' });
        expect((await store.listChannels({ userId: a, q: third, limit: 5 })).map((c) => c.id)).toEqual([
          ch.id,
        ]);
        expect(await store.listChannels({ userId: a, q: first, limit: 5 })).toEqual([]);
        await store.createChannel({ name: first, createdBy: user() }, now());
      });

      it('refuses a member who is not the owner, an outsider, a DM and an unknown conversation', async () => {
        const [a, b, outsider] = [user(), user(), user()];
        const g = await group(a, b);
        const dm = (await store.getOrCreateDm(a, b, now())).conversation;
        const unknown = asConversationId(randomUUID());
        await expectChatError(store.updateConversation(g.id, b, { name: 'mine' }), 'forbidden');
        await expectChatError(store.updateConversation(g.id, outsider, { topic: 'x' }), 'not_member');
        await expectChatError(store.updateConversation(dm.id, a, { name: 'dm' }), 'forbidden');
        await expectChatError(store.updateConversation(unknown, a, { name: 'x' }), 'not_found');
        await expectChatError(store.addMembers(g.id, b, [outsider], now(), 10), 'forbidden');
        await expectChatError(store.addMembers(g.id, outsider, [outsider], now(), 10), 'not_member');
        await expectChatError(store.addMembers(unknown, a, [outsider], now(), 10), 'not_found');
        await expectChatError(store.removeMemberAs(g.id, b, a), 'forbidden');
        await expectChatError(store.removeMemberAs(g.id, outsider, b), 'not_member');
        await expectChatError(store.removeMemberAs(unknown, a, b), 'not_found');
        expect(await store.getConversation(g.id)).toEqual(g);
        expect(await store.listMembers(g.id)).toEqual([a, b]);
        // An owner who left owns nothing they can change.
        await store.removeMember(g.id, a);
        await expectChatError(store.updateConversation(g.id, a, { name: 'back' }), 'not_member');
      });

      it('adds members to a group as its owner, each once, starting them with what was said before', async () => {
        const [a, b, c, d] = [user(), user(), user(), user()];
        const g = await group(a, b);
        await appendAll([msg(g.id, a), msg(g.id, b)]);
        expect(await store.addMembers(g.id, a, [c, b, c, d], now(), 10)).toEqual([c, d]);
        expect(await store.listMembers(g.id)).toEqual([a, b, c, d]);
        expect(await store.memberCount(g.id)).toBe(4);
        expect(await store.conversationStateOf(g.id, c)).toMatchObject({
          lastSeq: 2,
          lastReadSeq: 2,
          unread: 0,
        });
        expect(await store.addMembers(g.id, a, [b], now(), 10)).toEqual([]);
        expect(stored((await store.append([msg(g.id, d)]))[0]!).message.seq).toBe(3);
      });

      it('keeps a group within its size cap, adding no one past it', async () => {
        const [a, b, c, d] = [user(), user(), user(), user()];
        const g = await group(a, b);
        await expectChatError(store.addMembers(g.id, a, [c, d], now(), 3), 'validation_failed');
        expect(await store.listMembers(g.id)).toEqual([a, b]);
        expect(await store.addMembers(g.id, a, [c], now(), 3)).toEqual([c]);
        // Members already in it do not count twice.
        expect(await store.addMembers(g.id, a, [b, c], now(), 3)).toEqual([]);
      });

      it('adds and removes members of groups only', async () => {
        const [a, b] = [user(), user()];
        const ch = await store.createChannel({ name: `only-${tag()}`, createdBy: a }, now());
        const dm = (await store.getOrCreateDm(a, b, now())).conversation;
        await expectChatError(store.addMembers(ch.id, a, [b], now(), 10), 'forbidden');
        await expectChatError(store.addMembers(dm.id, a, [user()], now(), 10), 'forbidden');
        await expectChatError(store.removeMemberAs(dm.id, a, b), 'forbidden');
        expect(await store.listMembers(ch.id)).toEqual([a]);
      });

      it('removes a member of a group as its owner; they cannot post any more', async () => {
        const [a, b, c] = [user(), user(), user()];
        const g = await group(a, b, c);
        expect(await store.removeMemberAs(g.id, a, b)).toBe(true);
        expect(await store.removeMemberAs(g.id, a, b)).toBe(false);
        expect(await store.listMembers(g.id)).toEqual([a, c]);
        expect(await store.memberCount(g.id)).toBe(2);
        expect(await store.conversationStateOf(g.id, b)).toBeUndefined();
        expect(await store.append([msg(g.id, b)])).toEqual([{ refused: 'not_member' }]);
      });

      it('ends a race between an owner’s change and their leave consistently', async () => {
        for (let i = 0; i < 5; i++) {
          const [a, b] = [user(), user()];
          const g = await group(a, b);
          const [change] = await Promise.allSettled([
            store.updateConversation(g.id, a, { topic: `t${i}` }),
            store.removeMember(g.id, a),
          ]);
          const topic = (await store.getConversation(g.id))?.topic;
          if (change.status === 'fulfilled') expect(topic).toBe(`t${i}`);
          else {
            expect(errorCode(change.reason)).toBe('not_member');
            expect(topic).toBeNull();
          }
          expect(await store.isMember(g.id, a)).toBe(false);
        }
      });
    });

    describe('member settings', () => {
      it("keeps each member's own mute", async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        expect(await store.conversationStateOf(g.id, a)).toMatchObject({ muted: false, hidden: false });
        await store.updateSettings(g.id, a, { muted: true });
        expect((await store.conversationStateOf(g.id, a))?.muted).toBe(true);
        expect((await store.conversationStateOf(g.id, b))?.muted).toBe(false);
        expect((await store.conversationsOf(a)).find((s) => s.id === g.id)?.muted).toBe(true);
        await store.updateSettings(g.id, a, {});
        expect((await store.conversationStateOf(g.id, a))?.muted).toBe(true);
        await store.updateSettings(g.id, a, { muted: false });
        expect((await store.conversationStateOf(g.id, a))?.muted).toBe(false);
      });

      it('hides a DM from its member’s visible list until a message with a higher seq, theirs included', async () => {
        const [a, b] = [user(), user()];
        const dm = (await store.getOrCreateDm(a, b, now())).conversation;
        const g = await group(a, b);
        await appendOne(msg(dm.id, b));
        const visible = async (u: UserId) =>
          (await store.conversationsOf(u, { limit: 50, visibleOnly: true })).map((s) => s.id);

        await store.updateSettings(dm.id, a, { hidden: true, muted: true });
        expect(await store.conversationStateOf(dm.id, a)).toMatchObject({ hidden: true, muted: true });
        expect(await visible(a)).toEqual([g.id]);
        expect((await store.conversationsOf(a)).find((s) => s.id === dm.id)?.hidden).toBe(true);
        expect(await visible(b)).toContain(dm.id);

        await appendOne(msg(dm.id, b));
        expect(await store.conversationStateOf(dm.id, a)).toMatchObject({ hidden: false, muted: true });
        expect(await visible(a)).toEqual([dm.id, g.id]);

        await store.updateSettings(dm.id, a, { hidden: true });
        await appendOne(msg(dm.id, a));
        expect(await visible(a)).toEqual([dm.id, g.id]);

        await store.updateSettings(dm.id, a, { hidden: true });
        expect(await visible(a)).toEqual([g.id]);
        await store.updateSettings(dm.id, a, { hidden: false });
        expect(await visible(a)).toEqual([dm.id, g.id]);
      });

      it('pages over visible conversations only', async () => {
        const u = user();
        const others = Array.from({ length: 6 }, user);
        const dms = [];
        for (const o of others) dms.push((await store.getOrCreateDm(u, o, now())).conversation);
        for (const dm of dms.filter((_, i) => i % 2 === 0))
          await store.updateSettings(dm.id, u, { hidden: true });
        const seen: ConversationId[] = [];
        let before: ConversationCursor | undefined;
        for (;;) {
          const page = await store.conversationsOf(u, {
            limit: 2,
            visibleOnly: true,
            ...(before ? { before } : {}),
          });
          if (page.length === 0) break;
          seen.push(...page.map((s) => s.id));
          before = { lastActivityAt: page.at(-1)!.lastActivityAt, id: page.at(-1)!.id };
        }
        expect(seen).toEqual(
          dms
            .filter((_, i) => i % 2 === 1)
            .map((d) => d.id)
            .reverse(),
        );
      });

      it('hides DMs only, and only for members', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        const dm = (await store.getOrCreateDm(a, b, now())).conversation;
        await expectChatError(store.updateSettings(g.id, a, { hidden: true }), 'forbidden');
        await expectChatError(store.updateSettings(dm.id, user(), { muted: true }), 'not_member');
        await expectChatError(
          store.updateSettings(asConversationId(randomUUID()), a, { muted: true }),
          'not_found',
        );
        expect(await store.conversationStateOf(g.id, a)).toMatchObject({ hidden: false, muted: false });
      });
    });

    describe('markAllRead', () => {
      it('moves every read marker of the user to its last seq and returns those that moved', async () => {
        const [a, b] = [user(), user()];
        const g1 = await group(a, b);
        const g2 = await group(b, a);
        const quiet = await group(a, b);
        const dm = (await store.getOrCreateDm(a, b, now())).conversation;
        await appendAll([msg(g1.id, b), msg(g1.id, b), msg(g1.id, b), msg(g2.id, b), msg(dm.id, a)]);
        const moved = await store.markAllRead(a);
        expect(moved.sort((x, y) => x.seq - y.seq)).toEqual([
          { conv: g2.id, seq: 1 },
          { conv: g1.id, seq: 3 },
        ]);
        for (const s of await store.conversationsOf(a)) expect(s.unread).toBe(0);
        expect((await store.conversationStateOf(quiet.id, a))?.lastReadSeq).toBe(0);
        expect((await store.conversationStateOf(g1.id, b))?.unread).toBe(0);
        expect((await store.conversationStateOf(dm.id, b))?.unread).toBe(1);
        expect(await store.markAllRead(a)).toEqual([]);
        expect(await store.markAllRead(user())).toEqual([]);
      });
    });

    describe('default channels and first visits', () => {
      it('makes an owner-less channel on first need and finds it by name afterwards', async () => {
        const name = `Welcome-${tag()}`;
        const made = await store.ensureChannel({ name, createdBy: SYSTEM_USER_ID }, now());
        expect(made).toMatchObject({
          kind: 'channel',
          name,
          createdBy: SYSTEM_USER_ID,
          lastSeq: 0,
          topic: null,
        });
        expect(await store.listMembers(made.id)).toEqual([]);
        expect(await store.memberCount(made.id)).toBe(0);
        expect(
          await store.ensureChannel({ name: name.toLowerCase(), createdBy: SYSTEM_USER_ID }, now()),
        ).toEqual(made);
        const theirs = await store.createChannel({ name: `own-${tag()}`, createdBy: user() }, now());
        expect(await store.ensureChannel({ name: theirs.name!, createdBy: SYSTEM_USER_ID }, now())).toEqual(
          theirs,
        );
      });

      it('makes one channel for concurrent callers', async () => {
        const name = `race-default-${tag()}`;
        const made = await Promise.all(
          Array.from({ length: 6 }, () => store.ensureChannel({ name, createdBy: SYSTEM_USER_ID }, now())),
        );
        expect(new Set(made.map((c) => c.id)).size).toBe(1);
      });

      it('joins a user to the channels on their first visit only, so a channel left stays left', async () => {
        const [old, u] = [user(), user()];
        const ch1 = await store.ensureChannel({ name: `d1-${tag()}`, createdBy: SYSTEM_USER_ID }, now());
        const ch2 = await store.ensureChannel({ name: `d2-${tag()}`, createdBy: SYSTEM_USER_ID }, now());
        await store.addMember(ch1.id, old, now());
        await appendAll([msg(ch1.id, old), msg(ch1.id, old)]);
        const unknown = asConversationId(randomUUID());
        expect(await store.welcome(u, [ch1.id, unknown, ch2.id, ch1.id], now())).toEqual([ch1.id, ch2.id]);
        expect(await store.listMembers(ch1.id)).toEqual([old, u]);
        expect(await store.conversationStateOf(ch1.id, u)).toMatchObject({ lastReadSeq: 2, unread: 0 });
        await store.removeMember(ch1.id, u);
        expect(await store.welcome(u, [ch1.id, ch2.id], now())).toEqual([]);
        expect(await store.isMember(ch1.id, u)).toBe(false);
      });

      it('skips channels the user is in already, and records a visit with no channels', async () => {
        const [u, v] = [user(), user()];
        const ch = await store.ensureChannel({ name: `d3-${tag()}`, createdBy: SYSTEM_USER_ID }, now());
        await store.addMember(ch.id, u, now());
        expect(await store.welcome(u, [ch.id], now())).toEqual([]);
        expect(await store.welcome(v, [], now())).toEqual([]);
        expect(await store.welcome(v, [ch.id], now())).toEqual([]);
        expect(await store.isMember(ch.id, v)).toBe(false);
      });

      it('welcomes a user once under concurrent first visits', async () => {
        const u = user();
        const ch = await store.ensureChannel({ name: `d4-${tag()}`, createdBy: SYSTEM_USER_ID }, now());
        const visits = await Promise.all(Array.from({ length: 5 }, () => store.welcome(u, [ch.id], now())));
        expect(visits.filter((v) => v.length > 0)).toEqual([[ch.id]]);
        expect(await store.memberCount(ch.id)).toBe(1);
      });

      it('welcomes many users arriving at once, each to the channels its visit named', async () => {
        const ch1 = await store.ensureChannel({ name: `d5-${tag()}`, createdBy: SYSTEM_USER_ID }, now());
        const ch2 = await store.ensureChannel({ name: `d6-${tag()}`, createdBy: SYSTEM_USER_ID }, now());
        const users = Array.from({ length: 30 }, () => user());
        const other = user();
        const visits = await Promise.all([
          ...users.map((u) => store.welcome(u, [ch2.id, ch1.id], now())),
          // The same user again, and another list of channels, in the same turn.
          store.welcome(users[0]!, [ch1.id], now()),
          store.welcome(other, [ch2.id], now()),
        ]);
        expect(visits.slice(0, 30)).toEqual(users.map(() => [ch2.id, ch1.id]));
        expect(visits.slice(30)).toEqual([[], [ch2.id]]);
        expect(await store.memberCount(ch1.id)).toBe(30);
        expect(await store.memberCount(ch2.id)).toBe(31);
        expect(new Set(await store.listMembers(ch2.id))).toEqual(new Set([...users, other]));
      });
    });

    describe('spokeWith', () => {
      it('names those who sent a message in a DM or group the user is in; channels and receiving do not count', async () => {
        const [me, talker, listener, chatter] = [user(), user(), user(), user()];
        const [loud, outsider, silent] = [user(), user(), user()];
        const dm = (await store.getOrCreateDm(me, talker, now())).conversation;
        await appendOne(msg(dm.id, talker));
        const g = await group(me, listener, chatter);
        await appendAll([msg(g.id, me), msg(g.id, chatter)]);
        const ch = await store.createChannel({ name: `loud-${tag()}`, createdBy: loud }, now());
        await store.addMember(ch.id, me, now());
        await appendAll([msg(ch.id, loud), msg(ch.id, me)]);
        const elsewhere = await group(outsider, listener);
        await appendOne(msg(elsewhere.id, outsider));
        // A refused message does not count either.
        expect(await store.append([msg(g.id, outsider)])).toEqual([{ refused: 'not_member' }]);
        const quiet = (await store.getOrCreateDm(me, silent, now())).conversation;
        await appendOne(msg(quiet.id, me));

        const everyone = [talker, listener, chatter, loud, outsider, silent, me, user()];
        expect(await store.spokeWith(me, everyone)).toEqual(new Set([talker, chatter]));
        expect(await store.spokeWith(me, [talker, talker])).toEqual(new Set([talker]));
        expect(await store.spokeWith(me, [])).toEqual(new Set());
        // me sent in the group (which chatter and listener are in) and the quiet DM.
        expect(await store.spokeWith(listener, [me, chatter, outsider])).toEqual(
          new Set([me, chatter, outsider]),
        );
        expect(await store.spokeWith(silent, [me])).toEqual(new Set([me]));
        expect(await store.spokeWith(talker, [me])).toEqual(new Set());
        expect(await store.spokeWith(loud, [me])).toEqual(new Set());
      });

      it('counts only members who are still in the conversation, and their messages since they rejoined', async () => {
        const [me, other] = [user(), user()];
        const g = await group(me, other);
        await appendOne(msg(g.id, other));
        expect(await store.spokeWith(me, [other])).toEqual(new Set([other]));
        await store.removeMember(g.id, other);
        expect(await store.spokeWith(me, [other])).toEqual(new Set());
        await store.addMember(g.id, other, now());
        expect(await store.spokeWith(me, [other])).toEqual(new Set());
        await appendOne(msg(g.id, other));
        expect(await store.spokeWith(me, [other])).toEqual(new Set([other]));
        await store.removeMember(g.id, me);
        expect(await store.spokeWith(me, [other])).toEqual(new Set());
      });
    });

    describe('conversationsCreatedSince', () => {
      it('counts the groups and channels a user created since a time, not DMs or others’', async () => {
        const [u, v] = [user(), user()];
        const start = now();
        const t1 = now();
        await store.createGroup({ name: 'mine', createdBy: u, members: [v] }, t1);
        const t2 = now();
        await store.createChannel({ name: `mine-${tag()}`, createdBy: u }, t2);
        await store.getOrCreateDm(u, v, now());
        await store.createGroup({ name: 'theirs', createdBy: v, members: [u] }, now());
        expect(await store.conversationsCreatedSince(u, start)).toBe(2);
        expect(await store.conversationsCreatedSince(u, t1)).toBe(2);
        expect(await store.conversationsCreatedSince(u, t2)).toBe(1);
        expect(await store.conversationsCreatedSince(u, t2 + 1)).toBe(0);
        expect(await store.conversationsCreatedSince(v, start)).toBe(1);
        expect(await store.conversationsCreatedSince(user(), 0)).toBe(0);
        await expectChatError(store.conversationsCreatedSince(u, -1), 'validation_failed');
      });
    });

    describe('history', () => {
      let conv: ConversationId;
      beforeAll(async () => {
        const [a, b] = [user(), user()];
        conv = (await group(a, b)).id;
        await appendAll(Array.from({ length: 25 }, (_, i) => msg(conv, i % 2 ? a : b, `m${i + 1}`)));
      });
      const seqs = async (page: { before?: number; after?: number; limit: number }) =>
        (await store.history(conv, page)).map((m) => m.seq);
      const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

      it("returns each message with its sender's clientMsgId", async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendAll([msg(g.id, a, 'x', 'cm-a'), msg(g.id, b, 'y', 'cm-b')]);
        expect((await store.history(g.id, { limit: 10 })).map((m) => [m.from, m.clientMsgId])).toEqual([
          [a, 'cm-a'],
          [b, 'cm-b'],
        ]);
        expect((await store.history(g.id, { after: 1, limit: 10 }))[0]).toMatchObject({
          clientMsgId: 'cm-b',
        });
      });

      it('returns the newest page in ascending order by default', async () => {
        expect(await seqs({ limit: 10 })).toEqual(range(16, 25));
        const page = await store.history(conv, { limit: 1 });
        expect(page).toEqual([expect.objectContaining({ conv, seq: 25, body: 'm25' })]);
      });

      it('pages backwards with before and forwards with after', async () => {
        expect(await seqs({ before: 16, limit: 10 })).toEqual(range(6, 15));
        expect(await seqs({ before: 6, limit: 10 })).toEqual(range(1, 5));
        expect(await seqs({ before: 1, limit: 10 })).toEqual([]);
        expect(await seqs({ after: 0, limit: 10 })).toEqual(range(1, 10));
        expect(await seqs({ after: 20, limit: 10 })).toEqual(range(21, 25));
        expect(await seqs({ after: 25, limit: 10 })).toEqual([]);
      });

      it('refuses cursors that are not whole numbers ≥ 0 with validation_failed', async () => {
        for (const bad of [-1, 1.5, Number.NaN, 2 ** 60]) {
          await expectChatError(store.history(conv, { after: bad, limit: 10 }), 'validation_failed');
          await expectChatError(store.history(conv, { before: bad, limit: 10 }), 'validation_failed');
        }
      });

      it('returns nothing for an empty or unknown conversation', async () => {
        const g = await group(user(), user());
        expect(await store.history(g.id, { limit: 10 })).toEqual([]);
        expect(await store.history(asConversationId(randomUUID()), { limit: 10 })).toEqual([]);
      });
    });

    describe('markRead', () => {
      it('moves forward only and returns the stored marker', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendAll([msg(g.id, a), msg(g.id, a), msg(g.id, a)]);
        expect(await store.markRead(g.id, b, 2)).toBe(2);
        expect(await store.markRead(g.id, b, 1)).toBe(2);
        expect(await store.conversationStateOf(g.id, b)).toMatchObject({ lastReadSeq: 2, unread: 1 });
        expect(await store.markRead(g.id, b, 3)).toBe(3);
        expect(await store.conversationStateOf(g.id, b)).toMatchObject({ lastReadSeq: 3, unread: 0 });
      });

      it('refuses a marker past the last message and a reader who is not a member', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendOne(msg(g.id, a));
        await expectChatError(store.markRead(g.id, b, 2), 'seq_out_of_range');
        await expectChatError(store.markRead(g.id, user(), 1), 'not_member');
        await expectChatError(store.markRead(asConversationId(randomUUID()), b, 1), 'not_member');
        expect(await store.markRead(g.id, b, 0)).toBe(0);
        for (const bad of [-1, 0.5, Number.POSITIVE_INFINITY, 2 ** 60]) {
          await expectChatError(store.markRead(g.id, b, bad), 'validation_failed');
        }
      });
    });

    describe('concurrency', () => {
      it(`keeps seqs gapless under ${CONCURRENT_WRITERS} concurrent writers while a reader never skips one`, async () => {
        const writers = Array.from({ length: CONCURRENT_WRITERS }, user);
        const g = await store.createGroup({ name: 'busy', createdBy: writers[0]!, members: writers }, now());
        const total = CONCURRENT_WRITERS * MESSAGES_PER_WRITER;
        let writing = true;
        const seen: number[] = [];
        const reader = (async () => {
          let lastSeen = 0;
          while (lastSeen < total) {
            const stillWriting = writing;
            const page = await store.history(g.id, { after: lastSeen, limit: 200 });
            for (const m of page) {
              seen.push(m.seq);
              lastSeen = m.seq;
            }
            // After the writers finished, one empty page means nothing more will come.
            if (!stillWriting && page.length === 0) break;
            if (page.length === 0) await new Promise((r) => setTimeout(r, 1));
          }
        })();
        const seqsByWriter = await Promise.all(
          writers.map(async (w) => {
            const mine: number[] = [];
            for (let i = 0; i < MESSAGES_PER_WRITER; i++) {
              mine.push((await appendOne(msg(g.id, w, `${w}:${i}`))).message.seq);
            }
            return mine;
          }),
        );
        writing = false;
        await reader;

        const all = seqsByWriter.flat().sort((p, q) => p - q);
        expect(all).toEqual(Array.from({ length: total }, (_, i) => i + 1));
        for (const mine of seqsByWriter) expect([...mine].sort((p, q) => p - q)).toEqual(mine);
        expect(seen).toEqual(all);
        expect((await store.getConversation(g.id))!.lastSeq).toBe(total);
        const history = await store.history(g.id, { after: 0, limit: 200 });
        expect(history.map((m) => m.seq)).toEqual(all.slice(0, 200));
      }, 180_000);

      it('stores a message sent concurrently many times with one clientMsgId exactly once', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        const input = msg(g.id, a, 'retry storm');
        const results = await Promise.all(Array.from({ length: 8 }, () => appendOne({ ...input })));
        expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
        expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
        expect((await store.getConversation(g.id))!.lastSeq).toBe(1);
      });

      it('keeps every conversation gapless under concurrent batches spanning them in different orders', async () => {
        const [a, b] = [user(), user()];
        const convs = await Promise.all(Array.from({ length: 4 }, () => group(a, b)));
        const batches = Array.from({ length: 12 }, (_, i) => {
          const order = i % 2 ? [...convs].reverse() : convs;
          return order.flatMap((c) => [msg(c.id, i % 3 ? a : b), msg(c.id, a)]);
        });
        await Promise.all(batches.map((batch) => store.append(batch)));
        for (const c of convs) {
          const page = await store.history(c.id, { after: 0, limit: 200 });
          expect(page.map((m) => m.seq)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
        }
      });
    });

    describeSearch(() => store);

    describe('messages that change', () => {
      /** The stored message at `seq` (history), in its current state. */
      const at = async (conv: ConversationId, seq: number) =>
        (await store.history(conv, { after: seq - 1, limit: 1 }))[0]!;
      const lastChangeSeq = async (conv: ConversationId) =>
        (await store.getConversation(conv))!.lastChangeSeq;
      const edit = (conv: ConversationId, seq: number, actor: UserId, body: string, mentions?: UserId[]) =>
        store.editMessage({ conv, seq, actor, body, now: now(), ...(mentions ? { mentions } : {}) });
      const react = (
        conv: ConversationId,
        seq: number,
        actor: UserId,
        emoji: string,
        on = true,
        maxDistinct = 20,
      ) => store.react({ conv, seq, actor, emoji, on, now: now(), maxDistinct });
      const reply = (conv: ConversationId, sender: UserId, replyTo: number, body = 'reply'): AppendInput => ({
        ...msg(conv, sender, body),
        replyTo,
      });
      const mention = (
        conv: ConversationId,
        sender: UserId,
        mentions: UserId[],
        body = 'hey',
      ): AppendInput => ({
        ...msg(conv, sender, body),
        mentions,
      });
      const refusals = (outcomes: AppendOutcome[]) =>
        outcomes.map((o) => ('refused' in o ? o.refused : o.message.seq));

      it('stores a plain message with none of the optional fields, and a new conversation at change 0', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        expect(g.lastChangeSeq).toBe(0);
        const input = msg(g.id, a, 'plain');
        const { message } = await appendOne(input);
        const expected = {
          conv: g.id,
          seq: 1,
          id: message.id,
          from: a,
          body: 'plain',
          ts: input.ts,
          clientMsgId: input.clientMsgId,
        };
        expect(message).toEqual(expected);
        expect(await at(g.id, 1)).toEqual(expected);
        expect(await store.conversationStateOf(g.id, b)).toMatchObject({
          lastChangeSeq: 0,
          unreadMentions: 0,
          mentionSeqs: [],
        });
        const { clientMsgId: _, ...preview } = expected;
        expect((await store.conversationStateOf(g.id, b))!.lastMessage).toEqual(preview);
      });

      it('edits your own message: new body, editedAt, a changeSeq; not unread, activity and lastSeq unmoved', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendAll([msg(g.id, a, 'helo'), msg(g.id, b, 'hi')]);
        const before = (await store.conversationStateOf(g.id, b))!;
        const t = now();
        const out = await store.editMessage({ conv: g.id, seq: 1, actor: a, body: 'hello', now: t });
        expect(out.changed).toBe(true);
        expect(out.message).toMatchObject({ seq: 1, body: 'hello', editedAt: t, changeSeq: 1 });
        expect(await at(g.id, 1)).toEqual(out.message);
        const after = (await store.conversationStateOf(g.id, b))!;
        expect(after).toMatchObject({
          lastSeq: before.lastSeq,
          lastActivityAt: before.lastActivityAt,
          unread: before.unread,
          lastReadSeq: before.lastReadSeq,
          lastChangeSeq: 1,
        });
        // The same body again (and the same mentions: none) changes nothing and takes no changeSeq.
        const same = await edit(g.id, 1, a, 'hello');
        expect(same).toEqual({ message: out.message, changed: false });
        expect(await lastChangeSeq(g.id)).toBe(1);
      });

      it("refuses an edit of someone else's message, of a deleted one, by an outsider, of nothing", async () => {
        const [a, b, outsider] = [user(), user(), user()];
        const g = await group(a, b);
        await appendAll([msg(g.id, a, 'mine'), msg(g.id, b, 'theirs')]);
        await expectChatError(edit(g.id, 2, a, 'x'), 'forbidden');
        await expectChatError(edit(g.id, 1, outsider, 'x'), 'not_member');
        await expectChatError(edit(g.id, 9, a, 'x'), 'not_found');
        await expectChatError(edit(asConversationId(randomUUID()), 1, a, 'x'), 'not_found');
        await expectChatError(edit(g.id, 1, a, 'nul \u0000'), 'validation_failed');
        await store.deleteMessage(g.id, 1, a, now());
        await expectChatError(edit(g.id, 1, a, 'back'), 'conflict');
        // forbidden is checked before conflict.
        await expectChatError(edit(g.id, 1, b, 'back'), 'forbidden');
        expect(await lastChangeSeq(g.id)).toBe(1);
        expect((await at(g.id, 2)).body).toBe('theirs');
      });

      it('replaces mentions on edit; a non-member mention is validation_failed and changes nothing', async () => {
        const [a, b, c, outsider] = [user(), user(), user(), user()];
        const g = await group(a, b, c);
        await appendOne(mention(g.id, a, [b]));
        const changed = await edit(g.id, 1, a, 'hey', [c, a, c]);
        expect(changed.changed).toBe(true);
        expect(changed.message.mentions).toEqual([c]);
        expect(changed.message.changeSeq).toBe(1);
        // The same body with other mentions is a change; the same mentions again is not.
        expect((await edit(g.id, 1, a, 'hey', [c])).changed).toBe(false);
        await expectChatError(edit(g.id, 1, a, 'hey you', [b, outsider]), 'validation_failed');
        expect(await at(g.id, 1)).toEqual(changed.message);
        const none = await edit(g.id, 1, a, 'hey');
        expect(none.changed).toBe(true);
        expect(none.message).not.toHaveProperty('mentions');
        expect(none.message.changeSeq).toBe(2);
      });

      it('deletes as the sender: a tombstone keeping seq and thread links, body and reactions gone', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendAll([msg(g.id, a, 'root')]);
        await appendOne(mention(g.id, b, [a], 'secret'));
        const threaded = await appendOne({ ...mention(g.id, b, [a], 'secret reply'), replyTo: 1 });
        await appendOne(reply(g.id, a, 3, 'answer'));
        await react(g.id, 3, a, '👍');
        const rootBefore = await at(g.id, 1);
        const deleted = await store.deleteMessage(g.id, 3, b, now());
        expect(deleted.changed).toBe(true);
        const cs = await lastChangeSeq(g.id);
        expect(deleted.message).toEqual({
          conv: g.id,
          seq: 3,
          id: threaded.message.id,
          from: b,
          body: '',
          ts: threaded.message.ts,
          clientMsgId: threaded.message.clientMsgId,
          replyTo: 1,
          threadRoot: 1,
          deleted: true,
          changeSeq: cs,
        });
        expect(await at(g.id, 3)).toEqual(deleted.message);
        // Deleting a reply does not lower its root's count.
        expect(await at(g.id, 1)).toEqual(rootBefore);
        expect((await at(g.id, 4)).replyTo).toBe(3);
        // Again: nothing changes, no changeSeq.
        expect(await store.deleteMessage(g.id, 3, b, now())).toEqual({
          message: deleted.message,
          changed: false,
        });
        expect(await lastChangeSeq(g.id)).toBe(cs);
        await expectChatError(react(g.id, 3, a, '🎉'), 'conflict');
        expect(await lastChangeSeq(g.id)).toBe(cs);
      });

      it('keeps a deleted root’s thread counters, and lets one reply to a deleted message', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendOne(msg(g.id, a, 'root'));
        const first = await appendOne(reply(g.id, b, 1));
        await store.deleteMessage(g.id, 1, a, now());
        const tomb = await at(g.id, 1);
        expect(tomb).toMatchObject({ deleted: true, body: '', replyCount: 1, lastReplyAt: first.message.ts });
        const second = await appendOne(reply(g.id, b, 1, 'still'));
        expect(second.message).toMatchObject({ replyTo: 1, threadRoot: 1 });
        expect(second.root).toMatchObject({
          seq: 1,
          deleted: true,
          replyCount: 2,
          lastReplyAt: second.message.ts,
        });
      });

      it("lets a group's or channel's owner delete anyone's message, nobody else, and no one in a DM", async () => {
        const [owner, b, c] = [user(), user(), user()];
        const g = await group(owner, b, c);
        await appendAll([msg(g.id, b, 'b1'), msg(g.id, c, 'c1'), msg(g.id, owner, 'o1')]);
        await expectChatError(store.deleteMessage(g.id, 1, c, now()), 'forbidden');
        await expectChatError(store.deleteMessage(g.id, 3, b, now()), 'forbidden');
        expect((await store.deleteMessage(g.id, 1, owner, now())).changed).toBe(true);
        await expectChatError(store.deleteMessage(g.id, 2, user(), now()), 'not_member');
        await expectChatError(store.deleteMessage(g.id, 7, owner, now()), 'not_found');

        const ch = await store.createChannel({ name: `del-${tag()}`, createdBy: owner }, now());
        await store.addMember(ch.id, b, now());
        await appendOne(msg(ch.id, b, 'spam'));
        expect((await store.deleteMessage(ch.id, 1, owner, now())).message.deleted).toBe(true);

        const { conversation: dm } = await store.getOrCreateDm(owner, b, now());
        expect(dm.createdBy).toBe(owner);
        await appendAll([msg(dm.id, b, 'dm')]);
        await expectChatError(store.deleteMessage(dm.id, 1, owner, now()), 'forbidden');
        expect((await store.deleteMessage(dm.id, 1, b, now())).changed).toBe(true);
      });

      it('counts a deleted message as unread still, and previews the tombstone', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendAll([msg(g.id, a, 'one'), msg(g.id, a, 'two')]);
        await store.deleteMessage(g.id, 2, a, now());
        const state = (await store.conversationStateOf(g.id, b))!;
        expect(state).toMatchObject({ lastSeq: 2, unread: 2, lastChangeSeq: 1 });
        expect(state.lastMessage).toMatchObject({ seq: 2, body: '', deleted: true, changeSeq: 1 });
        expect(state.lastMessage).not.toHaveProperty('clientMsgId');
        const listed = (await store.conversationsOf(b)).find((s) => s.id === g.id)!;
        expect(listed).toEqual(state);
      });

      it('toggles reactions idempotently: emoji by first use, users in reaction order, exact counts', async () => {
        const [a, b, c] = [user(), user(), user()];
        const g = await group(a, b, c);
        await appendOne(msg(g.id, a, 'react to me'));
        const r1 = await react(g.id, 1, b, '👍');
        expect(r1.changed).toBe(true);
        expect(r1.message.reactions).toEqual([{ emoji: '👍', count: 1, users: [b] }]);
        expect(r1.message.changeSeq).toBe(1);
        expect(await react(g.id, 1, b, '👍')).toEqual({ message: r1.message, changed: false });
        await react(g.id, 1, c, '🎉');
        await react(g.id, 1, a, '👍');
        const r4 = await react(g.id, 1, c, '👍');
        expect(r4.message.reactions).toEqual([
          { emoji: '👍', count: 3, users: [b, a, c] },
          { emoji: '🎉', count: 1, users: [c] },
        ]);
        expect(r4.message.changeSeq).toBe(4);
        // Clearing: the user leaves the list; the last one takes the emoji away.
        const off = await react(g.id, 1, b, '👍', false);
        expect(off.message.reactions).toEqual([
          { emoji: '👍', count: 2, users: [a, c] },
          { emoji: '🎉', count: 1, users: [c] },
        ]);
        expect(await react(g.id, 1, b, '👍', false)).toEqual({ message: off.message, changed: false });
        const gone = await react(g.id, 1, c, '🎉', false);
        expect(gone.message.reactions).toEqual([{ emoji: '👍', count: 2, users: [a, c] }]);
        await react(g.id, 1, a, '👍', false);
        const none = await react(g.id, 1, c, '👍', false);
        expect(none.message).not.toHaveProperty('reactions');
        expect(none.message.changeSeq).toBe(8);
        expect(await at(g.id, 1)).toEqual(none.message);
        expect(await lastChangeSeq(g.id)).toBe(8);
        // An emoji everyone cleared counts from its next use.
        await react(g.id, 1, a, '🎉');
        await react(g.id, 1, b, '👍');
        const again = await react(g.id, 1, c, '🎉');
        expect(again.message.reactions).toEqual([
          { emoji: '🎉', count: 2, users: [a, c] },
          { emoji: '👍', count: 1, users: [b] },
        ]);
        // Reactions do not make it unread or move it.
        expect(await store.conversationStateOf(g.id, a)).toMatchObject({ unread: 0, lastSeq: 1 });
      });

      it('bounds distinct emoji per message (conflict), refuses a bad emoji, an outsider and nothing', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendOne(msg(g.id, a));
        for (const emoji of ['😀', '😂', '🙂']) await react(g.id, 1, a, emoji, true, 3);
        await expectChatError(react(g.id, 1, b, '🥲', true, 3), 'conflict');
        // An emoji already there is not a new one.
        expect((await react(g.id, 1, b, '😂', true, 3)).changed).toBe(true);
        await expectChatError(react(g.id, 1, a, 'ab'), 'validation_failed');
        await expectChatError(react(g.id, 1, a, '👍👍'), 'validation_failed');
        await expectChatError(react(g.id, 1, user(), '👍'), 'not_member');
        await expectChatError(react(g.id, 2, a, '👍'), 'not_found');
        await expectChatError(react(asConversationId(randomUUID()), 1, a, '👍'), 'not_found');
        expect(await lastChangeSeq(g.id)).toBe(4);
      });

      it(`lists at most ${LIMITS.reactionUsersShown} users of a reaction, in order, with the exact count`, async () => {
        const people = Array.from({ length: LIMITS.reactionUsersShown + 3 }, () => user());
        const g = await group(...people);
        await appendOne(msg(g.id, people[0]!));
        for (const p of people) await react(g.id, 1, p, '❤️');
        const [reaction] = (await at(g.id, 1)).reactions!;
        expect(reaction).toEqual({
          emoji: '❤️',
          count: people.length,
          users: people.slice(0, LIMITS.reactionUsersShown),
        });
      });

      it('threads replies: replyTo, one root for replies to replies, root counters and a changeSeq', async () => {
        const [a, b, c] = [user(), user(), user()];
        const g = await group(a, b, c);
        await appendAll([msg(g.id, a, 'root'), msg(g.id, b, 'other')]);
        const r1 = await appendOne(reply(g.id, b, 1, 'r1'));
        expect(r1.message).toMatchObject({ seq: 3, replyTo: 1, threadRoot: 1 });
        expect(r1.message).not.toHaveProperty('changeSeq');
        expect(r1.root).toEqual({ ...(await at(g.id, 1)) });
        expect(r1.root).toMatchObject({ seq: 1, replyCount: 1, lastReplyAt: r1.message.ts, changeSeq: 1 });
        const r2 = await appendOne(reply(g.id, c, 3, 'r2'));
        expect(r2.message).toMatchObject({ seq: 4, replyTo: 3, threadRoot: 1 });
        expect(r2.root).toMatchObject({ seq: 1, replyCount: 2, lastReplyAt: r2.message.ts, changeSeq: 2 });
        // The parent that is not the root does not change.
        expect(await at(g.id, 3)).toEqual(r1.message);
        expect(await at(g.id, 4)).toEqual(r2.message);
        expect(await lastChangeSeq(g.id)).toBe(2);
        // A duplicate of a reply returns no root and changes nothing.
        const again = (
          await store.append([{ ...reply(g.id, c, 3, 'r2'), clientMsgId: r2.message.clientMsgId }])
        )[0]!;
        expect(again).toEqual({ message: r2.message, duplicate: true });
        expect(await lastChangeSeq(g.id)).toBe(2);
        // Two replies to one root in a batch: the root ends with both, at the conversation's last change.
        const both = await appendAll([reply(g.id, a, 1, 'r3'), reply(g.id, b, 4, 'r4')]);
        const root = await at(g.id, 1);
        expect(root).toMatchObject({ replyCount: 4, lastReplyAt: both[1]!.message.ts });
        expect(root.changeSeq).toBe(await lastChangeSeq(g.id));
        expect(both[1]!.root).toEqual(root);
        const { messages } = await store.changesSince(g.id, 0, 100);
        expect(messages).toEqual([root]);
      });

      it('refuses a reply to a missing seq, to a message of the same batch, or of another conversation, without failing the batch', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        const h = await group(a, b);
        await appendAll([msg(h.id, a), msg(h.id, a), msg(h.id, a)]);
        await appendOne(msg(g.id, a, 'first'));
        const outcomes = await store.append([
          reply(g.id, b, 5),
          msg(g.id, a, 'second'),
          reply(g.id, b, 3),
          reply(g.id, b, 1, 'fine'),
          { ...msg(g.id, b, 'in batch'), replyTo: 2 },
        ]);
        expect(refusals(outcomes)).toEqual(['bad_reply', 2, 'bad_reply', 3, 'bad_reply']);
        expect((await store.getConversation(g.id))!.lastSeq).toBe(3);
        expect(await lastChangeSeq(g.id)).toBe(1);
        expect((await store.history(g.id, { limit: 10 })).map((m) => m.body)).toEqual([
          'first',
          'second',
          'fine',
        ]);
      });

      it('pages a thread in seq order', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendAll([msg(g.id, a, 'root'), msg(g.id, a, 'other root')]);
        for (let i = 0; i < 5; i++) await appendAll([reply(g.id, b, 1, `t${i}`), reply(g.id, a, 2, `u${i}`)]);
        const page1 = await store.thread(g.id, 1, { limit: 3 });
        expect(page1.map((m) => m.body)).toEqual(['t0', 't1', 't2']);
        const page2 = await store.thread(g.id, 1, { after: page1.at(-1)!.seq, limit: 3 });
        expect(page2.map((m) => m.body)).toEqual(['t3', 't4']);
        expect(page2.every((m) => m.threadRoot === 1)).toBe(true);
        expect(await store.thread(g.id, 1, { after: page2.at(-1)!.seq, limit: 3 })).toEqual([]);
        expect(await store.thread(g.id, 3, { limit: 3 })).toEqual([]);
        expect((await at(g.id, 1)).replyCount).toBe(5);
      });

      it('stores mentions deduplicated without the sender; a non-member mention is bad_mentions', async () => {
        const [a, b, c, outsider] = [user(), user(), user(), user()];
        const g = await group(a, b, c);
        const outcomes = await store.append([
          mention(g.id, a, [c, b, a, c]),
          mention(g.id, a, [b, outsider]),
          mention(g.id, b, [a]),
        ]);
        expect(refusals(outcomes)).toEqual([1, 'bad_mentions', 2]);
        expect(stored(outcomes[0]!).message.mentions).toEqual([c, b]);
        expect(await at(g.id, 1)).toEqual(stored(outcomes[0]!).message);
        // Mentioning only yourself is mentioning no one.
        expect((await appendOne(mention(g.id, a, [a]))).message).not.toHaveProperty('mentions');
      });

      it('counts unread mentions per member: read, delete and edit take them away', async () => {
        const [a, b, c] = [user(), user(), user()];
        const g = await group(a, b, c);
        await appendAll([
          mention(g.id, a, [b]),
          msg(g.id, a),
          mention(g.id, c, [b, a]),
          mention(g.id, a, [b]),
        ]);
        expect(await store.conversationStateOf(g.id, b)).toMatchObject({
          unreadMentions: 3,
          mentionSeqs: [1, 3, 4],
        });
        // Sending moved a's read marker to 4 and c's to 3: nothing unread mentions them.
        expect(await store.conversationStateOf(g.id, a)).toMatchObject({
          unreadMentions: 0,
          mentionSeqs: [],
        });
        expect(await store.conversationStateOf(g.id, c)).toMatchObject({
          unreadMentions: 0,
          mentionSeqs: [],
        });
        // An edit that drops the mention, one that adds it, reading, and a delete move the count.
        await edit(g.id, 4, a, 'never mind');
        expect(await store.conversationStateOf(g.id, b)).toMatchObject({
          unreadMentions: 2,
          mentionSeqs: [1, 3],
        });
        await edit(g.id, 2, a, 'hey you', [b]);
        expect(await store.conversationStateOf(g.id, b)).toMatchObject({
          unreadMentions: 3,
          mentionSeqs: [1, 2, 3],
        });
        await store.markRead(g.id, b, 1);
        await edit(g.id, 1, a, 'still you', [b, c]);
        expect(await store.conversationStateOf(g.id, b)).toMatchObject({
          unreadMentions: 2,
          mentionSeqs: [2, 3],
        });
        expect(await store.conversationStateOf(g.id, c)).toMatchObject({
          unreadMentions: 0,
          mentionSeqs: [],
        });
        await store.deleteMessage(g.id, 3, c, now());
        const bState = (await store.conversationStateOf(g.id, b))!;
        expect(bState).toMatchObject({ unreadMentions: 1, mentionSeqs: [2] });
        expect((await store.conversationsOf(b)).find((s) => s.id === g.id)).toEqual(bState);
        expect((await store.conversationsOf(b, { limit: 5 })).find((s) => s.id === g.id)).toEqual(bState);
        await store.markRead(g.id, b, 2);
        expect(await store.conversationStateOf(g.id, b)).toMatchObject({
          unreadMentions: 0,
          mentionSeqs: [],
        });
        await appendOne(mention(g.id, a, [c]));
        expect(await store.conversationStateOf(g.id, c)).toMatchObject({
          unreadMentions: 1,
          mentionSeqs: [5],
        });
        await store.markRead(g.id, c, 5);
        expect(await store.conversationStateOf(g.id, c)).toMatchObject({
          unreadMentions: 0,
          mentionSeqs: [],
        });
      });

      it(`lists the newest ${LIMITS.maxMentionSeqs} unread mention seqs ascending, and counts them all`, async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        const n = LIMITS.maxMentionSeqs + 3;
        await appendAll(Array.from({ length: n }, () => mention(g.id, a, [b])));
        const state = (await store.conversationStateOf(g.id, b))!;
        expect(state.unreadMentions).toBe(n);
        expect(state.mentionSeqs).toEqual(Array.from({ length: LIMITS.maxMentionSeqs }, (_, i) => i + 4));
      });

      it('gives every kind of change the next gapless changeSeq; changesSince pages them, each message once', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendAll([msg(g.id, a, 'one'), msg(g.id, b, 'two'), msg(g.id, a, 'three')]);
        await edit(g.id, 1, a, 'one!'); // 1
        await react(g.id, 2, a, '👍'); // 2
        await appendOne(reply(g.id, b, 3)); // 3 (root 3)
        await store.deleteMessage(g.id, 2, b, now()); // 4
        await react(g.id, 1, b, '😀'); // 5
        await react(g.id, 1, b, '😀', false); // 6
        await edit(g.id, 1, a, 'one!'); // no change
        expect(await lastChangeSeq(g.id)).toBe(6);
        const all = await store.changesSince(g.id, 0, 100);
        expect(all.lastChangeSeq).toBe(6);
        expect(all.messages.map((m) => [m.seq, m.changeSeq])).toEqual([
          [3, 3],
          [2, 4],
          [1, 6],
        ]);
        for (const m of all.messages) expect(await at(g.id, m.seq)).toEqual(m);
        const first = await store.changesSince(g.id, 0, 2);
        expect(first.messages.map((m) => m.seq)).toEqual([3, 2]);
        const rest = await store.changesSince(g.id, first.messages.at(-1)!.changeSeq!, 2);
        expect(rest).toEqual({ messages: [all.messages[2]], lastChangeSeq: 6 });
        expect(await store.changesSince(g.id, 6, 10)).toEqual({ messages: [], lastChangeSeq: 6 });
        expect(await store.changesSince(asConversationId(randomUUID()), 0, 10)).toEqual({
          messages: [],
          lastChangeSeq: 0,
        });
        await expectChatError(store.changesSince(g.id, -1, 10), 'validation_failed');
        // Every conversation read carries it.
        expect((await store.conversationStateOf(g.id, a))!.lastChangeSeq).toBe(6);
        expect((await store.conversationsOf(a)).find((s) => s.id === g.id)!.lastChangeSeq).toBe(6);
      });

      it('pages around a seq: it in the middle, shifted at either end', async () => {
        const [a, b] = [user(), user()];
        const g = await group(a, b);
        await appendAll(Array.from({ length: 20 }, (_, i) => msg(g.id, a, `m${i + 1}`)));
        const seqs = async (seq: number, limit: number) =>
          (await store.around(g.id, seq, limit)).map((m) => m.seq);
        expect(await seqs(10, 5)).toEqual([8, 9, 10, 11, 12]);
        expect(await seqs(10, 4)).toEqual([8, 9, 10, 11]);
        expect(await seqs(2, 5)).toEqual([1, 2, 3, 4, 5]);
        expect(await seqs(1, 3)).toEqual([1, 2, 3]);
        expect(await seqs(20, 5)).toEqual([16, 17, 18, 19, 20]);
        expect(await seqs(19, 6)).toEqual([15, 16, 17, 18, 19, 20]);
        expect(await seqs(10, 50)).toHaveLength(20);
        expect(await seqs(10, 1)).toEqual([10]);
        expect(await seqs(10, 0)).toEqual([]);
        expect((await store.around(g.id, 10, 3))[1]).toEqual(await at(g.id, 10));
        expect(await store.around(asConversationId(randomUUID()), 1, 5)).toEqual([]);
      });

      it('keeps changeSeqs gapless and distinct under concurrent reactions, edits and replies', async () => {
        const people = Array.from({ length: 8 }, () => user());
        const g = await group(...people);
        await appendAll(people.map((p) => msg(g.id, p, 'mine')));
        const emoji = ['👍', '🎉', '😀', '❤️'];
        // As many at once as a store's connection pool serves (more only queue for a connection).
        const results = await inParallel(6, [
          ...people.flatMap((p, i) => [
            () => react(g.id, 1 + (i % 3), p, emoji[i % emoji.length]!),
            () => react(g.id, 1 + ((i + 1) % 3), p, emoji[(i + 1) % emoji.length]!),
            () => edit(g.id, i + 1, p, `edited by ${i}`),
          ]),
          ...people.map((p, i) => async () => {
            const [out] = await store.append([reply(g.id, p, 1 + (i % 2), 'concurrent reply')]);
            return { message: stored(out!).root!, changed: true };
          }),
        ]);
        const changeSeqs = results.filter((r) => r.changed).map((r) => r.message.changeSeq!);
        const total = await lastChangeSeq(g.id);
        // Each call that changed something took its own changeSeq; only replies in one batch may share.
        expect(new Set(changeSeqs).size).toBe(changeSeqs.length);
        expect(total).toBe(changeSeqs.length);
        expect([...changeSeqs].sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
        const { messages } = await store.changesSince(g.id, 0, 200);
        const latest = messages.map((m) => m.changeSeq!);
        expect(latest).toEqual([...latest].sort((x, y) => x - y));
        expect(latest.at(-1)).toBe(total);
        expect(messages).toHaveLength(people.length);
        expect((await at(g.id, 1)).replyCount).toBe(people.length / 2);
      });
    });
  });
}

/** Runs `tasks` with at most `limit` of them at once; their results in task order. */
async function inParallel<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

/** The result of an outcome that must have been stored (or found stored). */
function stored(outcome: AppendOutcome): AppendResult {
  if ('refused' in outcome) throw new Error(`append refused: ${outcome.refused}`);
  return outcome;
}

function errorCode(err: unknown): ErrorCode | undefined {
  return err instanceof ChatError ? err.code : undefined;
}

async function expectChatError(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome, `expected ChatError ${code}`).toBeInstanceOf(ChatError);
  expect((outcome as ChatError).code).toBe(code);
}
