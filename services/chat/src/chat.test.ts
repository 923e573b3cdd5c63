import {
  asConversationId,
  asUserId,
  ChatError,
  type ConversationFrame,
  type ConversationId,
  type MessageFrame,
  type ReadEventFrame,
  type User,
} from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppendBatcher } from './append-batcher.js';
import { Bus } from './bus/bus.js';
import { MemoryTransport } from './bus/memory.js';
import { ChatCore, type ChatCoreOptions } from './chat.js';
import { type BusEvent, convTopic, decodeEvent, userTopic } from './events.js';
import { KeyedBudget } from './limits/keyed-budget.js';
import { createMessageStore } from './store/factory.js';
import type { MessageStore } from './store/message-store.js';
import { CachedUserDirectory } from './users/user-directory.js';

const logger = createLogger({ name: 'chat-core-test', level: 'silent' });
const TOKEN = 'caller-token';

const ann: User = { id: asUserId('u-ann'), username: 'ann' };
const ben: User = { id: asUserId('u-ben'), username: 'ben' };
const cal: User = { id: asUserId('u-cal'), username: 'cal' };
const dee: User = { id: asUserId('u-dee'), username: 'dee' };
/** The users the directory knows (what the auth service answers in process, embedded). */
const USERS = [ann, ben, cal, dee];

interface Options extends Partial<ChatCoreOptions> {
  sendBurst?: number;
}

/**
 * The chat core on its real parts: SQLite in memory, the group-commit batcher, the
 * in-process bus, the user directory over a fixed user table and a per-user send budget
 * on a stopped clock (it never refills), so a test decides how many sends it allows.
 */
async function core(options: Options = {}) {
  const store = createMessageStore('sqlite::memory:', logger);
  await store.migrate();
  const bus = new Bus({ transport: new MemoryTransport(), prefix: 'test:', logger });
  const directory = new CachedUserDirectory(async (ids) => USERS.filter((u) => ids.includes(u.id)));
  const sendBudget = new KeyedBudget<string>({
    ratePerSec: 1,
    burst: options.sendBurst ?? 1000,
    what: 'sending too fast',
    now: () => 0,
  });
  const chat = new ChatCore(
    store,
    new AppendBatcher(store),
    bus,
    directory,
    logger,
    {
      conversationsPage: options.conversationsPage ?? 100,
      maxGroupMembers: options.maxGroupMembers ?? 256,
      conversationsPerHour: options.conversationsPerHour ?? 30,
      defaultChannels: options.defaultChannels ?? [],
    },
    sendBudget,
  );
  return { chat, store, bus };
}

/** Every event published on the topics it listens to, decoded, in arrival order. */
function recorder(bus: Bus) {
  const events: { topic: string; event: BusEvent }[] = [];
  const ready: Promise<void>[] = [];
  return {
    events,
    listen(...topics: string[]) {
      for (const topic of topics) {
        ready.push(
          bus.subscribe(topic, (payload) => {
            const event = decodeEvent(payload);
            if (!event) throw new Error(`undecodable payload on ${topic}`);
            events.push({ topic, event });
          }).ready,
        );
      }
      return Promise.all(ready);
    },
    of(topic: string) {
      return events.filter((e) => e.topic === topic).map((e) => e.event);
    },
  };
}

/**
 * Lets what has been published arrive: the in-process broker delivers on a microtask, and
 * the chat core publishes before its call resolves, so one macrotask turn is enough.
 */
const delivered = () => new Promise<void>((resolve) => setImmediate(resolve));

let ctx: Awaited<ReturnType<typeof core>>;
let rec: ReturnType<typeof recorder>;

async function setUp(options: Options = {}): Promise<void> {
  ctx = await core(options);
  rec = recorder(ctx.bus);
}

afterEach(async () => {
  vi.useRealTimers();
  await ctx?.chat.close();
  await ctx?.bus.close();
  await ctx?.store.close();
});

async function dmOf(a: User, b: User): Promise<ConversationId> {
  const { conversation } = await ctx.chat.createConversation(a, { kind: 'dm', with: b.id }, TOKEN);
  return conversation.id;
}

async function lastSeqOf(store: MessageStore, conv: ConversationId): Promise<number | undefined> {
  return (await store.getConversation(conv))?.lastSeq;
}

describe('ChatCore.send', () => {
  beforeEach(() => setUp({ sendBurst: 3 }));

  it('stores the message, acks it with its seq and publishes one message frame on the conversation', async () => {
    const dm = await dmOf(ann, ben);
    await rec.listen(convTopic(dm));
    const result = await ctx.chat.send(dm, ann.id, 'c-1', 'hello ben');
    expect(result.duplicate).toBe(false);
    expect(result.ack).toEqual({
      type: 'ack',
      clientMsgId: 'c-1',
      conv: dm,
      id: result.message.id,
      seq: 1,
      ts: result.message.ts,
    });
    expect(result.message).toMatchObject({ conv: dm, seq: 1, from: ann.id, body: 'hello ben' });
    await delivered();
    const published = rec.of(convTopic(dm));
    expect(published).toHaveLength(1);
    const event = published[0]!;
    expect(event).toMatchObject({ kind: 'message', seq: 1 });
    const frame = JSON.parse(event.frame) as MessageFrame;
    expect(frame).toMatchObject({ type: 'message', ...result.message });
    expect(await ctx.store.history(dm, { limit: 10 })).toEqual([
      expect.objectContaining({ seq: 1, body: 'hello ben', id: result.message.id }),
    ]);
  });

  it.each([
    ['an empty body', ''],
    ['a body over 4000 characters', 'x'.repeat(4001)],
    ['a NUL character', 'nul \u0000 inside'],
    ['a control character', 'bell \u0007'],
    ['a lone surrogate', 'half \ud800 a pair'],
  ])(
    'refuses %s as validation_failed before taking from the send budget, storing or publishing',
    async (_, body) => {
      const dm = await dmOf(ann, ben);
      await rec.listen(convTopic(dm));
      await expect(ctx.chat.send(dm, ann.id, 'bad', body)).rejects.toMatchObject({
        code: 'validation_failed',
      });
      // The budget of 3 is untouched: three valid sends still pass.
      for (const n of [1, 2, 3]) await ctx.chat.send(dm, ann.id, `ok-${n}`, `message ${n}`);
      await delivered();
      expect(await lastSeqOf(ctx.store, dm)).toBe(3);
      expect(rec.of(convTopic(dm)).map((e) => (e.kind === 'message' ? e.seq : e.kind))).toEqual([1, 2, 3]);
    },
  );

  it('refuses a send past the user’s budget as rate_limited with a wait, storing and publishing nothing', async () => {
    const dm = await dmOf(ann, ben);
    await rec.listen(convTopic(dm));
    for (const n of [1, 2, 3]) await ctx.chat.send(dm, ann.id, `m-${n}`, `message ${n}`);
    const refused = await ctx.chat.send(dm, ann.id, 'm-4', 'one too many').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ChatError);
    expect(refused).toMatchObject({ code: 'rate_limited' });
    expect((refused as ChatError).retryAfterSec).toBeGreaterThan(0);
    await delivered();
    expect(await lastSeqOf(ctx.store, dm)).toBe(3);
    expect(rec.of(convTopic(dm))).toHaveLength(3);
    // The budget is the sender's: the other member still sends.
    expect((await ctx.chat.send(dm, ben.id, 'b-1', 'my turn')).ack.seq).toBe(4);
  });

  it('takes from the budget before the store refuses a non-member, and publishes nothing for them', async () => {
    const dm = await dmOf(ann, ben);
    await rec.listen(convTopic(dm));
    for (const n of [1, 2, 3]) {
      await expect(ctx.chat.send(dm, cal.id, `x-${n}`, 'let me in')).rejects.toMatchObject({
        code: 'not_member',
      });
    }
    await expect(ctx.chat.send(dm, cal.id, 'x-4', 'let me in')).rejects.toMatchObject({
      code: 'rate_limited',
    });
    await delivered();
    expect(rec.of(convTopic(dm))).toEqual([]);
    expect(await lastSeqOf(ctx.store, dm)).toBe(0);
  });

  it('refuses a send to a conversation that does not exist as not_found', async () => {
    const nowhere = asConversationId('no-such-conversation');
    await rec.listen(convTopic(nowhere));
    await expect(ctx.chat.send(nowhere, ann.id, 'n-1', 'hello?')).rejects.toMatchObject({
      code: 'not_found',
    });
    await delivered();
    expect(rec.events).toEqual([]);
  });

  it('answers a repeated clientMsgId with the original message and publishes it again', async () => {
    const dm = await dmOf(ann, ben);
    await rec.listen(convTopic(dm));
    const first = await ctx.chat.send(dm, ann.id, 'same', 'only once');
    const again = await ctx.chat.send(dm, ann.id, 'same', 'only once');
    expect(again.duplicate).toBe(true);
    expect(again.ack).toEqual(first.ack);
    expect(again.message).toEqual(first.message);
    expect(await lastSeqOf(ctx.store, dm)).toBe(1);
    await delivered();
    const published = rec.of(convTopic(dm));
    expect(published).toHaveLength(2);
    expect(published[1]).toEqual(published[0]);
  });
});

describe('ChatCore.markRead', () => {
  beforeEach(() => setUp());

  it('moves the marker forward and publishes it once to the reader’s devices, with the origin session', async () => {
    const dm = await dmOf(ann, ben);
    for (const n of [1, 2, 3]) await ctx.chat.send(dm, ann.id, `m-${n}`, `message ${n}`);
    await rec.listen(userTopic(ben.id), userTopic(ann.id), convTopic(dm));
    expect(await ctx.chat.markRead(dm, ben.id, 2, 'session-1')).toBe(2);
    await delivered();
    expect(rec.events).toHaveLength(1);
    const [only] = rec.events;
    expect(only!.topic).toBe(userTopic(ben.id));
    expect(only!.event).toMatchObject({ kind: 'read', origin: 'session-1' });
    expect(JSON.parse(only!.event.frame) as ReadEventFrame).toEqual({ type: 'read', conv: dm, seq: 2 });
    expect((await ctx.store.conversationStateOf(dm, ben.id))?.lastReadSeq).toBe(2);
  });

  it('never moves the marker backwards: an older seq answers, and announces, the marker as stored', async () => {
    const dm = await dmOf(ann, ben);
    for (const n of [1, 2, 3]) await ctx.chat.send(dm, ann.id, `m-${n}`, `message ${n}`);
    await rec.listen(userTopic(ben.id));
    expect(await ctx.chat.markRead(dm, ben.id, 3)).toBe(3);
    expect(await ctx.chat.markRead(dm, ben.id, 1)).toBe(3);
    await delivered();
    const seqs = rec.of(userTopic(ben.id)).map((e) => (JSON.parse(e.frame) as ReadEventFrame).seq);
    expect(seqs).toEqual([3, 3]);
    expect((await ctx.store.conversationStateOf(dm, ben.id))?.lastReadSeq).toBe(3);
  });

  it('publishes nothing when the marker is refused (past the last message, or not a member)', async () => {
    const dm = await dmOf(ann, ben);
    await ctx.chat.send(dm, ann.id, 'm-1', 'one');
    await rec.listen(userTopic(ben.id), userTopic(cal.id));
    await expect(ctx.chat.markRead(dm, ben.id, 2)).rejects.toMatchObject({ code: 'seq_out_of_range' });
    await expect(ctx.chat.markRead(dm, cal.id, 1)).rejects.toMatchObject({ code: 'not_member' });
    await delivered();
    expect(rec.events).toEqual([]);
  });
});

describe('ChatCore.createConversation', () => {
  it('creates a DM once, announcing it to both members, and finds it again from either side', async () => {
    await setUp();
    await rec.listen(userTopic(ann.id), userTopic(ben.id));
    const first = await ctx.chat.createConversation(ann, { kind: 'dm', with: ben.id }, TOKEN);
    expect(first.created).toBe(true);
    expect(first.conversation).toMatchObject({ kind: 'dm', memberCount: 2 });
    await delivered();
    for (const [user, contact] of [
      [ann, ben],
      [ben, ann],
    ] as const) {
      const [event] = rec.of(userTopic(user.id));
      expect(event).toMatchObject({ kind: 'joined', conv: first.conversation.id, convKind: 'dm' });
      expect(event?.kind === 'joined' && event.contacts).toEqual([contact.id]);
      expect((JSON.parse(event!.frame) as ConversationFrame).event).toBe('created');
    }
    const again = await ctx.chat.createConversation(ben, { kind: 'dm', with: ann.id }, TOKEN);
    expect(again).toMatchObject({ created: false, conversation: { id: first.conversation.id } });
    await delivered();
    expect(rec.events).toHaveLength(2);
  });

  it('refuses a DM with oneself (validation_failed) and with an unknown user (not_found)', async () => {
    await setUp();
    await expect(ctx.chat.createConversation(ann, { kind: 'dm', with: ann.id }, TOKEN)).rejects.toMatchObject(
      { code: 'validation_failed' },
    );
    await expect(
      ctx.chat.createConversation(ann, { kind: 'dm', with: asUserId('u-nobody') }, TOKEN),
    ).rejects.toMatchObject({ code: 'not_found' });
    expect(await ctx.store.conversationsOf(ann.id)).toEqual([]);
  });

  it('adds to a group only people who have written to the creator', async () => {
    await setUp();
    const dm = await dmOf(ann, ben);
    // Ann writing to Ben does not let Ann add Ben; Ben writing to Ann does.
    await ctx.chat.send(dm, ann.id, 'a-1', 'hi ben');
    const refused = ctx.chat.createConversation(
      ann,
      { kind: 'group', name: 'trip', members: [ben.id] },
      TOKEN,
    );
    await expect(refused).rejects.toMatchObject({ code: 'forbidden' });
    expect((await ctx.store.conversationsOf(ben.id)).map((c) => c.kind)).toEqual(['dm']);

    await ctx.chat.send(dm, ben.id, 'b-1', 'hi ann');
    await rec.listen(userTopic(ben.id));
    const { conversation, created } = await ctx.chat.createConversation(
      ann,
      { kind: 'group', name: 'trip', members: [ben.id] },
      TOKEN,
    );
    expect(created).toBe(true);
    expect(conversation).toMatchObject({ kind: 'group', name: 'trip', memberCount: 2 });
    await delivered();
    expect(rec.of(userTopic(ben.id))).toEqual([
      expect.objectContaining({ kind: 'joined', conv: conversation.id, convKind: 'group' }),
    ]);

    // A stranger among several members refuses the whole group.
    await expect(
      ctx.chat.createConversation(ann, { kind: 'group', name: 'more', members: [ben.id, cal.id] }, TOKEN),
    ).rejects.toMatchObject({ code: 'forbidden' });
    expect(await ctx.store.conversationsOf(cal.id)).toEqual([]);
  });

  it('caps a group at maxGroupMembers, counting the creator and each member once', async () => {
    await setUp({ maxGroupMembers: 3 });
    for (const other of [ben, cal, dee])
      await ctx.chat.send(await dmOf(other, ann), other.id, `hi-${other.id}`, 'hi');
    const three = await ctx.chat.createConversation(
      ann,
      { kind: 'group', name: 'three', members: [ben.id, cal.id, ben.id, ann.id] },
      TOKEN,
    );
    expect(three.conversation.memberCount).toBe(3);
    await expect(
      ctx.chat.createConversation(
        ann,
        { kind: 'group', name: 'four', members: [ben.id, cal.id, dee.id] },
        TOKEN,
      ),
    ).rejects.toMatchObject({ code: 'validation_failed' });
  });

  it('allows conversationsPerHour groups and channels per creator and hour; DMs do not count', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T10:00:00Z'));
    await setUp({ conversationsPerHour: 2 });
    await ctx.chat.createConversation(ann, { kind: 'channel', name: 'one' }, TOKEN);
    await ctx.chat.createConversation(ann, { kind: 'group', name: 'two', members: [] }, TOKEN);
    const refused = ctx.chat.createConversation(ann, { kind: 'channel', name: 'three' }, TOKEN);
    await expect(refused).rejects.toMatchObject({ code: 'rate_limited', retryAfterSec: 60 });
    // Another creator has a budget of their own; DMs are never capped.
    await ctx.chat.createConversation(ben, { kind: 'channel', name: 'bens' }, TOKEN);
    expect((await ctx.chat.createConversation(ann, { kind: 'dm', with: cal.id }, TOKEN)).created).toBe(true);
    expect((await ctx.store.conversationsOf(ann.id)).map((c) => c.name).sort()).toEqual([null, 'one', 'two']);

    vi.setSystemTime(new Date('2030-01-01T11:00:01Z'));
    const later = await ctx.chat.createConversation(ann, { kind: 'channel', name: 'three' }, TOKEN);
    expect(later.created).toBe(true);
  });

  it('stores names NFKC-normalised and refuses invisible ones before using the creation budget', async () => {
    await setUp({ conversationsPerHour: 1 });
    await expect(
      ctx.chat.createConversation(ann, { kind: 'channel', name: '\u200b\u200b' }, TOKEN),
    ).rejects.toMatchObject({ code: 'validation_failed', fields: [{ field: '/name' }] });
    const { conversation } = await ctx.chat.createConversation(
      ann,
      { kind: 'channel', name: ' Ｇｅｎｅｒａｌ ' },
      TOKEN,
    );
    expect(conversation.name).toBe('General');
  });
});

describe('ChatCore membership rule for reads', () => {
  beforeEach(() => setUp());

  it('serves history to members, not_member to others, not_found for no such conversation', async () => {
    const dm = await dmOf(ann, ben);
    await ctx.chat.send(dm, ann.id, 'm-1', 'one');
    expect((await ctx.chat.history(ben.id, dm, { limit: 10 })).map((m) => m.body)).toEqual(['one']);
    await expect(ctx.chat.history(cal.id, dm, { limit: 10 })).rejects.toMatchObject({ code: 'not_member' });
    await expect(ctx.chat.history(ann.id, asConversationId('missing'), { limit: 10 })).rejects.toMatchObject({
      code: 'not_found',
    });
  });
});
