/**
 * The chat core's paths for messages that change (protocol v1.2): replies and mentions on
 * send, edit, delete, react and the reads of changes, threads and context — its own rules
 * (validation, the send budget, what is published and when), over a scripted store, so
 * they hold whatever backend answers. The stores' own rules are the contract suite's.
 */
import {
  asConversationId,
  asMessageId,
  asUserId,
  type ChangeFrame,
  ChatError,
  LIMITS,
  type MessageFrame,
} from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AppendBatcher } from './append-batcher.js';
import { Bus } from './bus/bus.js';
import { MemoryTransport } from './bus/memory.js';
import { ChatCore, mentionsOf } from './chat.js';
import { type BusEvent, convTopic, decodeEvent } from './events.js';
import { KeyedBudget } from './limits/keyed-budget.js';
import type { AppendOutcome, ChangeOutcome, MessageStore, StoredMessage } from './store/message-store.js';
import { CachedUserDirectory } from './users/user-directory.js';

const logger = createLogger({ name: 'chat-changes-test', level: 'silent' });
const ann = asUserId('u-ann');
const ben = asUserId('u-ben');
const cal = asUserId('u-cal');
const conv = asConversationId('c-1');

function stored(seq: number, fields: Partial<StoredMessage> = {}): StoredMessage {
  return {
    conv,
    seq,
    id: asMessageId(`m-${seq}`),
    from: ann,
    body: `message ${seq}`,
    ts: 1000 + seq,
    clientMsgId: `cm-${seq}`,
    ...fields,
  };
}

/** A store whose answers each test scripts; what the core does not call throws. */
function scriptedStore() {
  const fake = {
    append: vi.fn(
      async (inputs: unknown[]): Promise<AppendOutcome[]> => inputs.map(() => ({ refused: 'not_found' })),
    ),
    editMessage: vi.fn(async (): Promise<ChangeOutcome> => ({ message: stored(1), changed: false })),
    deleteMessage: vi.fn(async (): Promise<ChangeOutcome> => ({ message: stored(1), changed: false })),
    react: vi.fn(async (): Promise<ChangeOutcome> => ({ message: stored(1), changed: false })),
    changesSince: vi.fn(async () => ({ messages: [] as StoredMessage[], lastChangeSeq: 0 })),
    thread: vi.fn(async (): Promise<StoredMessage[]> => []),
    around: vi.fn(async (): Promise<StoredMessage[]> => []),
    history: vi.fn(async (_conv: unknown, _page: { after?: number }): Promise<StoredMessage[]> => []),
    isMember: vi.fn(async () => true),
    getConversation: vi.fn(async () => undefined),
  };
  return fake;
}

let bus: Bus;
let chat: ChatCore;
let store: ReturnType<typeof scriptedStore>;
let events: BusEvent[];

async function setUp(burst = 100): Promise<void> {
  store = scriptedStore();
  const asStore = store as unknown as MessageStore;
  bus = new Bus({ transport: new MemoryTransport(), prefix: 'test:', logger });
  events = [];
  await bus.subscribe(convTopic(conv), (payload) => {
    const event = decodeEvent(payload);
    if (event) events.push(event);
  }).ready;
  chat = new ChatCore(
    asStore,
    new AppendBatcher(asStore),
    bus,
    new CachedUserDirectory(async () => []),
    logger,
    { conversationsPage: 100, maxGroupMembers: 10, conversationsPerHour: 10, defaultChannels: [] },
    new KeyedBudget<string>({ ratePerSec: 1, burst, what: 'sending too fast', now: () => 0 }),
  );
}

const delivered = () => new Promise<void>((resolve) => setImmediate(resolve));

async function codeOf(promise: Promise<unknown>): Promise<[string, string | undefined]> {
  try {
    await promise;
    return ['resolved', undefined];
  } catch (err) {
    if (!(err instanceof ChatError)) throw err;
    return [err.code, err.fields?.[0]?.field];
  }
}

afterEach(async () => {
  await chat?.close();
  await bus?.close();
});

describe('ChatCore.send with replyTo and mentions', () => {
  it('passes the reply and the mentions (deduplicated, without the sender) to the store', async () => {
    await setUp();
    store.append.mockResolvedValueOnce([
      { message: stored(2, { replyTo: 1, threadRoot: 1 }), duplicate: false },
    ]);
    await chat.send(conv, ann, 'cm-2', 'hi @ben', { replyTo: 1, mentions: [ben, ann, ben, cal] });
    expect(store.append).toHaveBeenCalledWith([
      expect.objectContaining({ conv, sender: ann, clientMsgId: 'cm-2', replyTo: 1, mentions: [ben, cal] }),
    ]);
  });

  it('leaves out mentions that name only the sender', async () => {
    await setUp();
    store.append.mockResolvedValueOnce([{ message: stored(1), duplicate: false }]);
    await chat.send(conv, ann, 'cm-1', 'me', { mentions: [ann] });
    const [[inputs]] = store.append.mock.calls as unknown as [[Record<string, unknown>[]]];
    expect(inputs[0]).not.toHaveProperty('mentions');
    expect(inputs[0]).not.toHaveProperty('replyTo');
  });

  it('publishes the reply, then the root’s change', async () => {
    await setUp();
    const root = stored(1, { replyCount: 1, lastReplyAt: 1002, changeSeq: 4 });
    store.append.mockResolvedValueOnce([
      { message: stored(2, { from: ben, replyTo: 1, threadRoot: 1 }), duplicate: false, root },
    ]);
    const { message } = await chat.send(conv, ben, 'cm-2', 'answer', { replyTo: 1 });
    expect(message).not.toHaveProperty('clientMsgId');
    await delivered();
    expect(events.map((e) => e.kind)).toEqual(['message', 'change']);
    expect(events[1]).toMatchObject({ kind: 'change', changeSeq: 4, seq: 1 });
    const frame = JSON.parse(events[1]!.frame) as ChangeFrame;
    const { clientMsgId: _omit, ...shown } = root;
    expect(frame).toEqual({ type: 'change', conv, changeSeq: 4, message: shown });
    const reply = JSON.parse(events[0]!.frame) as MessageFrame;
    expect(reply).toMatchObject({ type: 'message', seq: 2, replyTo: 1, threadRoot: 1 });
  });

  it('publishes no change for a duplicate (the store gives no root)', async () => {
    await setUp();
    store.append.mockResolvedValueOnce([
      { message: stored(2, { replyTo: 1, threadRoot: 1 }), duplicate: true },
    ]);
    await chat.send(conv, ann, 'cm-2', 'again', { replyTo: 1 });
    await delivered();
    expect(events.map((e) => e.kind)).toEqual(['message']);
  });

  it.each([
    ['bad_reply', '/replyTo'],
    ['bad_mentions', '/mentions'],
  ] as const)(
    'turns the store’s %s into validation_failed naming %s, publishing nothing',
    async (refused, field) => {
      await setUp();
      store.append.mockResolvedValueOnce([{ refused }]);
      expect(await codeOf(chat.send(conv, ann, 'cm-9', 'x', { replyTo: 7, mentions: [ben] }))).toEqual([
        'validation_failed',
        field,
      ]);
      await delivered();
      expect(events).toEqual([]);
    },
  );

  it('refuses more mentions than LIMITS.maxMentions before the store', async () => {
    await setUp();
    const many = Array.from({ length: LIMITS.maxMentions + 1 }, (_, i) => asUserId(`u-${i}`));
    expect(await codeOf(chat.send(conv, ann, 'cm-1', 'x', { mentions: many }))).toEqual([
      'validation_failed',
      '/mentions',
    ]);
    expect(store.append).not.toHaveBeenCalled();
  });
});

describe('ChatCore edit, delete and react', () => {
  it('edits through the store and publishes the new state as a change', async () => {
    await setUp();
    const after = stored(3, { body: 'fixed', editedAt: 5000, mentions: [ben], changeSeq: 9 });
    store.editMessage.mockResolvedValueOnce({ message: after, changed: true });
    const result = await chat.editMessage(conv, ann, 3, 'fixed', [ben, ann]);
    expect(store.editMessage).toHaveBeenCalledWith(
      expect.objectContaining({ conv, seq: 3, actor: ann, body: 'fixed', mentions: [ben] }),
    );
    // The sender's own copy keeps its clientMsgId (as history shows it to them).
    expect(result).toEqual({ message: after, changed: true });
    await delivered();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'change', changeSeq: 9, seq: 3 });
    expect((JSON.parse(events[0]!.frame) as ChangeFrame).message).not.toHaveProperty('clientMsgId');
  });

  it('publishes the current state again when nothing changed (a retry heals a lost publish), nothing for a never-changed message', async () => {
    await setUp();
    store.editMessage.mockResolvedValueOnce({ message: stored(3, { changeSeq: 2 }), changed: false });
    store.deleteMessage.mockResolvedValueOnce({
      message: stored(4, { deleted: true, body: '', changeSeq: 5 }),
      changed: false,
    });
    store.react.mockResolvedValueOnce({ message: stored(6), changed: false });
    expect((await chat.editMessage(conv, ann, 3, 'message 3')).changed).toBe(false);
    expect((await chat.deleteMessage(conv, ann, 4)).changed).toBe(false);
    expect((await chat.react(conv, ann, 6, '👍', false)).changed).toBe(false);
    await delivered();
    expect(events.map((e) => (e.kind === 'change' ? [e.seq, e.changeSeq] : e.kind))).toEqual([
      [3, 2],
      [4, 5],
    ]);
  });

  it('deletes and reacts, each published once, for someone else’s message without its clientMsgId', async () => {
    await setUp();
    const tomb = stored(4, { body: '', deleted: true, changeSeq: 1 });
    const reacted = stored(5, { reactions: [{ emoji: '👍', count: 1, users: [ben] }], changeSeq: 2 });
    store.deleteMessage.mockResolvedValueOnce({ message: tomb, changed: true });
    store.react.mockResolvedValueOnce({ message: reacted, changed: true });
    const deleted = await chat.deleteMessage(conv, ben, 4);
    const react = await chat.react(conv, ben, 5, '👍', true);
    expect(store.deleteMessage).toHaveBeenCalledWith(conv, 4, ben, expect.any(Number));
    expect(store.react).toHaveBeenCalledWith(
      expect.objectContaining({
        conv,
        seq: 5,
        actor: ben,
        emoji: '👍',
        on: true,
        maxDistinct: LIMITS.maxReactionsPerMessage,
      }),
    );
    expect(deleted.message).not.toHaveProperty('clientMsgId');
    expect(react.message).not.toHaveProperty('clientMsgId');
    await delivered();
    expect(events.map((e) => [e.kind, e.kind === 'change' ? e.changeSeq : 0])).toEqual([
      ['change', 1],
      ['change', 2],
    ]);
  });

  it.each(['', 'ab', '👍👍', ':+1:', 'x'.repeat(40)])(
    'refuses the reaction %j as validation_failed on /emoji',
    async (emoji) => {
      await setUp();
      expect(await codeOf(chat.react(conv, ann, 1, emoji, true))).toEqual(['validation_failed', '/emoji']);
      expect(store.react).not.toHaveBeenCalled();
    },
  );

  it('refuses a bad body of an edit as validation_failed on /body', async () => {
    await setUp();
    expect(await codeOf(chat.editMessage(conv, ann, 1, 'bell \u0007'))).toEqual([
      'validation_failed',
      '/body',
    ]);
    expect(await codeOf(chat.editMessage(conv, ann, 1, ''))).toEqual(['validation_failed', '/body']);
    expect(store.editMessage).not.toHaveBeenCalled();
  });

  it('takes one send-budget token per change, shared with sends', async () => {
    await setUp(3);
    store.append.mockResolvedValueOnce([{ message: stored(1), duplicate: false }]);
    await chat.send(conv, ann, 'cm-1', 'one');
    await chat.editMessage(conv, ann, 1, 'two');
    await chat.react(conv, ann, 1, '🎉', true);
    expect(await codeOf(chat.deleteMessage(conv, ann, 1))).toEqual(['rate_limited', undefined]);
    expect(store.deleteMessage).not.toHaveBeenCalled();
    // Another user's budget is their own.
    expect(await codeOf(chat.deleteMessage(conv, ben, 1))).toEqual(['resolved', undefined]);
  });

  it('passes the store’s refusals through as they are', async () => {
    await setUp();
    store.editMessage.mockRejectedValueOnce(new ChatError('forbidden'));
    store.react.mockRejectedValueOnce(new ChatError('conflict'));
    store.deleteMessage.mockRejectedValueOnce(new ChatError('not_member'));
    expect(await codeOf(chat.editMessage(conv, ben, 1, 'mine now'))).toEqual(['forbidden', undefined]);
    expect(await codeOf(chat.react(conv, ben, 1, '👍', true))).toEqual(['conflict', undefined]);
    expect(await codeOf(chat.deleteMessage(conv, ben, 1))).toEqual(['not_member', undefined]);
    await delivered();
    expect(events).toEqual([]);
  });
});

describe('ChatCore reads of changes, threads and context', () => {
  it('checks membership before every read', async () => {
    await setUp();
    store.isMember.mockResolvedValue(false);
    expect(await codeOf(chat.changes(ben, conv, 0, 10))).toEqual(['not_found', undefined]);
    expect(await codeOf(chat.thread(ben, conv, 1, { limit: 10 }))).toEqual(['not_found', undefined]);
    expect(await codeOf(chat.around(ben, conv, 1, 10))).toEqual(['not_found', undefined]);
    store.getConversation.mockResolvedValue({ id: conv } as never);
    expect(await codeOf(chat.changes(ben, conv, 0, 10))).toEqual(['not_member', undefined]);
    expect(store.changesSince).not.toHaveBeenCalled();
    expect(store.thread).not.toHaveBeenCalled();
    expect(store.around).not.toHaveBeenCalled();
  });

  it('gives changes with clientMsgId only on the caller’s own messages, capped at LIMITS.maxChangesPage', async () => {
    await setUp();
    store.changesSince.mockResolvedValueOnce({
      messages: [stored(1, { changeSeq: 3 }), stored(2, { from: ben, changeSeq: 4 })],
      lastChangeSeq: 4,
    });
    const page = await chat.changes(ben, conv, 2, 10_000);
    expect(store.changesSince).toHaveBeenCalledWith(conv, 2, LIMITS.maxChangesPage);
    expect(page.lastChangeSeq).toBe(4);
    expect(page.messages[0]).not.toHaveProperty('clientMsgId');
    expect(page.messages[1]).toHaveProperty('clientMsgId', 'cm-2');
  });

  it('reads a thread from its root, also when asked for one of its replies', async () => {
    await setUp();
    store.history.mockImplementation(async (_c: unknown, page: { after?: number }) =>
      page.after === 4 ? [stored(5, { replyTo: 2, threadRoot: 2 })] : [stored(2, { replyCount: 2 })],
    );
    store.thread.mockResolvedValue([stored(3, { threadRoot: 2 }), stored(5, { threadRoot: 2 })]);
    const t = await chat.thread(ann, conv, 5, { after: 1, limit: 50 });
    expect(t.root.seq).toBe(2);
    expect(t.messages.map((m) => m.seq)).toEqual([3, 5]);
    expect(store.thread).toHaveBeenCalledWith(conv, 2, { after: 1, limit: 50 });
  });

  it('answers not_found for a thread of no such message', async () => {
    await setUp();
    store.history.mockResolvedValue([]);
    expect(await codeOf(chat.thread(ann, conv, 9, { limit: 10 }))).toEqual(['not_found', undefined]);
  });

  it('reads the messages around a seq', async () => {
    await setUp();
    store.around.mockResolvedValue([stored(4), stored(5), stored(6)]);
    expect((await chat.around(ann, conv, 5, 3)).map((m) => m.seq)).toEqual([4, 5, 6]);
    expect(store.around).toHaveBeenCalledWith(conv, 5, 3);
  });
});

describe('mentionsOf', () => {
  it('deduplicates in order, drops the author, and says none with undefined', () => {
    expect(mentionsOf([ben, cal, ben, ann], ann)).toEqual([ben, cal]);
    expect(mentionsOf([ann], ann)).toBeUndefined();
    expect(mentionsOf([], ann)).toBeUndefined();
    expect(mentionsOf(undefined, ann)).toBeUndefined();
  });
});
