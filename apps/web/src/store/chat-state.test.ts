import {
  asConversationId,
  asMessageId,
  asUserId,
  type Conversation,
  type Message,
  type UserId,
} from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import {
  type ChatAction,
  type ChatState,
  chatReducer,
  INITIAL_STATE,
  presenceOf,
  typingNames,
  typingSentence,
} from './chat-state.js';

const me = { id: asUserId('me'), username: 'ada' };
const bob = { id: asUserId('bob'), username: 'bob' };
const conv = (over: Partial<Conversation> = {}): Conversation => ({
  id: asConversationId('c1'),
  kind: 'dm',
  name: null,
  lastSeq: 2,
  lastReadSeq: 2,
  unread: 0,
  memberCount: 2,
  members: [me, bob],
  lastMessage: null,
  lastActivityAt: 100,
  createdAt: 0,
  ...over,
});
const msg = (seq: number, from = 'bob', over: Partial<Message> = {}): Message => ({
  conv: asConversationId('c1'),
  seq,
  id: asMessageId(`m${seq}`),
  from: asUserId(from),
  body: `hello ${seq}`,
  ts: 1000 + seq,
  ...over,
});
const run = (...actions: ChatAction[]): ChatState => actions.reduce(chatReducer, INITIAL_STATE);
const ready = (conversations: Conversation[] = [conv()], online: UserId[] = []): ChatAction => ({
  type: 'ready',
  me,
  conversations,
  online,
});

describe('chat state', () => {
  it('applies an updated conversation (name, topic, muted) and drops a hidden DM until it shows again', () => {
    const group = conv({ id: asConversationId('g1'), kind: 'group', name: 'Trip', createdBy: bob.id });
    let state = run(ready([conv(), group]));
    state = chatReducer(state, {
      type: 'conversation',
      conversation: { ...group, name: 'June trip', topic: 'Trains', muted: true },
    });
    const updated = state.conversations.get(group.id);
    expect(updated).toMatchObject({ name: 'June trip', topic: 'Trains', muted: true });
    // A membership frame changes the shared fields only, never our own muted flag.
    state = chatReducer(state, {
      type: 'conversation',
      conversation: { ...group, name: 'June trip', topic: 'Planes', muted: false },
      membersOnly: true,
    });
    expect(state.conversations.get(group.id)).toMatchObject({ topic: 'Planes', muted: true });

    state = chatReducer(state, { type: 'conversation', conversation: conv({ hidden: true }) });
    expect(state.conversations.has(asConversationId('c1'))).toBe(false);
    state = chatReducer(state, { type: 'conversation', conversation: conv({ hidden: false, lastSeq: 3 }) });
    expect(state.conversations.get(asConversationId('c1'))?.unread).toBe(1);
    // Hidden DMs in a snapshot are not listed.
    expect(run(ready([conv({ hidden: true })])).conversations.size).toBe(0);
  });

  it('shows presence as unknown from a dropped link until the next ready (issue 12, bug 4)', () => {
    const online = run(ready([conv()], [bob.id]), { type: 'link', status: 'open' });
    expect(presenceOf(online, bob.id)).toBe('online');
    const dropped = chatReducer(online, { type: 'link', status: 'reconnecting' });
    expect(presenceOf(dropped, bob.id)).toBe('unknown');
    // The link alone does not make it fresh again; the snapshot of `ready` does.
    const reopened = chatReducer(dropped, { type: 'link', status: 'open' });
    expect(presenceOf(reopened, bob.id)).toBe('unknown');
    expect(presenceOf(chatReducer(reopened, ready([conv()], [])), bob.id)).toBe('offline');
  });

  it('keeps the last message and read state when someone joins (issue 12, bug 3)', () => {
    const c1 = asConversationId('c1');
    const joined = conv({ kind: 'channel', name: 'news', lastMessage: msg(2), lastReadSeq: 2 });
    const frame = conv({
      kind: 'channel',
      name: 'news',
      lastMessage: null,
      lastReadSeq: 0,
      memberCount: 3,
      members: [me, bob, { id: asUserId('cy'), username: 'cy' }],
    });
    const state = run(
      ready([joined]),
      { type: 'conversation', conversation: frame, membersOnly: true },
      // The same frame without the hint (an older client path) still keeps the preview.
      { type: 'conversation', conversation: { ...frame, lastReadSeq: 2 } },
    );
    expect(state.conversations.get(c1)).toMatchObject({
      lastReadSeq: 2,
      unread: 0,
      memberCount: 3,
      lastMessage: { seq: 2, body: 'hello 2' },
    });
  });

  it('shows an unread badge when a message from someone else arrives', () => {
    const state = run(ready(), { type: 'messages', conv: asConversationId('c1'), messages: [msg(3)] });
    expect(state.conversations.get(asConversationId('c1'))).toMatchObject({
      lastSeq: 3,
      unread: 1,
      lastActivityAt: 1003,
    });
    expect(state.conversations.get(asConversationId('c1'))?.lastMessage?.seq).toBe(3);
  });

  it('counts a repeated delivery once', () => {
    const live: ChatAction = { type: 'messages', conv: asConversationId('c1'), messages: [msg(3)] };
    const state = run(ready(), live, live);
    expect(state.conversations.get(asConversationId('c1'))?.unread).toBe(1);
    expect(state.histories.get(asConversationId('c1'))?.messages).toHaveLength(1);
  });

  it('clears the badge when the read marker comes from another device', () => {
    const state = run(
      ready(),
      { type: 'messages', conv: asConversationId('c1'), messages: [msg(3), msg(4)] },
      { type: 'read', conv: asConversationId('c1'), seq: 4 },
    );
    expect(state.conversations.get(asConversationId('c1'))?.unread).toBe(0);
  });

  it('does not count own messages and settles their pending copy', () => {
    const state = run(
      ready(),
      {
        type: 'pending',
        message: {
          clientMsgId: 'k1',
          conv: asConversationId('c1'),
          body: 'hi',
          status: 'sending',
          createdAt: 1,
        },
      },
      { type: 'messages', conv: asConversationId('c1'), messages: [msg(3, 'me', { clientMsgId: 'k1' })] },
    );
    expect(state.conversations.get(asConversationId('c1'))?.unread).toBe(0);
    expect(state.pending.get(asConversationId('c1'))).toBeUndefined();
  });

  it('marks a pending message failed in place', () => {
    const base = { clientMsgId: 'k1', conv: asConversationId('c1'), body: 'hi', createdAt: 1 };
    const state = run(
      ready(),
      { type: 'pending', message: { ...base, status: 'sending' } },
      { type: 'pending', message: { ...base, status: 'failed', error: 'nope' } },
    );
    expect(state.pending.get(asConversationId('c1'))).toEqual([{ ...base, status: 'failed', error: 'nope' }]);
  });

  it('keeps live progress when an older server copy of the conversation arrives', () => {
    const state = run(
      ready(),
      { type: 'messages', conv: asConversationId('c1'), messages: [msg(3), msg(4)] },
      { type: 'read', conv: asConversationId('c1'), seq: 3 },
      { type: 'conversation', conversation: conv({ name: 'renamed', lastSeq: 2, lastReadSeq: 2 }) },
    );
    expect(state.conversations.get(asConversationId('c1'))).toMatchObject({
      name: 'renamed',
      lastSeq: 4,
      lastReadSeq: 3,
      unread: 1,
    });
  });

  it('prepends older pages and records the start of history', () => {
    const state = run(
      ready(),
      { type: 'messages', conv: asConversationId('c1'), messages: [msg(5)] },
      { type: 'olderPage', conv: asConversationId('c1'), messages: [msg(3), msg(4)], limit: 2 },
      { type: 'olderPage', conv: asConversationId('c1'), messages: [msg(1), msg(2)], limit: 2 },
    );
    expect(state.histories.get(asConversationId('c1'))?.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(state.histories.get(asConversationId('c1'))?.hasOlder).toBe(false);
  });

  it('shows typing until it expires or the typist sends', () => {
    let state = run(ready(), { type: 'typing', conv: asConversationId('c1'), user: asUserId('bob'), now: 0 });
    expect(typingNames(state.typing.get(asConversationId('c1')), state.users, 1)).toEqual(['bob']);
    expect(typingNames(state.typing.get(asConversationId('c1')), state.users, 10_000)).toEqual([]);
    state = chatReducer(state, { type: 'messages', conv: asConversationId('c1'), messages: [msg(3)] });
    expect(typingNames(state.typing.get(asConversationId('c1')), state.users, 1)).toEqual([]);
  });

  it('ignores its own typing echo and drops expired typists', () => {
    let state = run(ready(), { type: 'typing', conv: asConversationId('c1'), user: asUserId('me'), now: 0 });
    expect(state.typing.size).toBe(0);
    state = chatReducer(state, {
      type: 'typing',
      conv: asConversationId('c1'),
      user: asUserId('bob'),
      now: 0,
    });
    state = chatReducer(state, { type: 'typingExpired', now: 60_000 });
    expect(state.typing.size).toBe(0);
  });

  it('merges presence events and presence snapshots', () => {
    let state = run(ready([conv()], [asUserId('bob')]));
    expect(state.online.has(asUserId('bob'))).toBe(true);
    state = chatReducer(state, { type: 'presence', user: asUserId('bob'), status: 'offline' });
    expect(state.online.has(asUserId('bob'))).toBe(false);
    state = chatReducer(state, {
      type: 'presenceSnapshot',
      asked: [asUserId('bob'), asUserId('cy')],
      online: [asUserId('cy')],
    });
    expect([...state.online]).toEqual(['cy']);
  });

  it('shows the conversation list from REST until the live connection is ready', () => {
    const fromRest = run(
      { type: 'signedIn', me },
      { type: 'bootstrap', conversations: [conv({ name: 'rest' })] },
    );
    expect(fromRest.synced).toBe(true);
    expect(fromRest.conversations.get(asConversationId('c1'))?.name).toBe('rest');
    const live = chatReducer(fromRest, ready([conv({ name: 'live' })]));
    expect(live.conversations.get(asConversationId('c1'))?.name).toBe('live');
    expect(chatReducer(live, { type: 'bootstrap', conversations: [] })).toBe(live);
  });

  it('removes a conversation that was left', () => {
    const state = run(ready(), { type: 'conversationRemoved', id: asConversationId('c1') });
    expect(state.conversations.size).toBe(0);
  });

  it('words the typing line for one, two and many', () => {
    expect(typingSentence(['ada'])).toBe('ada is typing…');
    expect(typingSentence(['ada', 'bob'])).toBe('ada and bob are typing…');
    expect(typingSentence(['a', 'b', 'c'])).toBe('Several people are typing…');
  });
});
