import {
  asConversationId,
  asMessageId,
  asUserId,
  type Conversation,
  type Message,
} from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { type ChatAction, type ChatState, chatReducer, INITIAL_STATE, threadKey } from './chat-state.js';

const me = { id: asUserId('me'), username: 'ada' };
const bob = { id: asUserId('bob'), username: 'bob' };
const c1 = asConversationId('c1');
const conv = (over: Partial<Conversation> = {}): Conversation => ({
  id: c1,
  kind: 'group',
  name: 'g',
  lastSeq: 3,
  lastReadSeq: 3,
  unread: 0,
  memberCount: 2,
  members: [me, bob],
  lastMessage: null,
  lastActivityAt: 100,
  createdAt: 0,
  ...over,
});
const msg = (seq: number, over: Partial<Message> = {}): Message => ({
  conv: c1,
  seq,
  id: asMessageId(`m${seq}`),
  from: bob.id,
  body: `hello ${seq}`,
  ts: 1000 + seq,
  ...over,
});
const run = (...actions: ChatAction[]): ChatState => actions.reduce(chatReducer, INITIAL_STATE);
const ready = (c: Conversation = conv()): ChatAction => ({
  type: 'ready',
  me,
  conversations: [c],
  online: [],
});
const page = (messages: Message[]): ChatAction => ({ type: 'olderPage', conv: c1, messages, limit: 50 });
const changes = (...messages: Message[]): ChatAction => ({ type: 'changes', conv: c1, messages });
const bodies = (s: ChatState) => s.histories.get(c1)!.messages.map((m) => m.body);

describe('chat state: messages that change', () => {
  it('keeps the copy with the highest changeSeq, whatever the arrival order, and ignores unloaded ones', () => {
    const base = run(ready(), page([msg(1), msg(2), msg(3)]));
    const edit1 = msg(2, { body: 'first edit', editedAt: 5, changeSeq: 1 });
    const edit2 = msg(2, { body: 'second edit', editedAt: 6, changeSeq: 2 });
    const inOrder = [edit1, edit2].reduce((s, m) => chatReducer(s, changes(m)), base);
    const reversed = [edit2, edit1].reduce((s, m) => chatReducer(s, changes(m)), base);
    expect(bodies(inOrder)).toEqual(['hello 1', 'second edit', 'hello 3']);
    expect(bodies(reversed)).toEqual(bodies(inOrder));
    // A duplicate or older copy changes nothing (same state object).
    expect(chatReducer(inOrder, changes(edit1))).toBe(inOrder);
    // A history page with an older copy does not undo the change; a newer one wins.
    expect(bodies(chatReducer(inOrder, page([msg(2, { changeSeq: 1, body: 'first edit' })])))).toContain(
      'second edit',
    );
    expect(bodies(chatReducer(inOrder, page([msg(2, { changeSeq: 3, body: 'third' })])))).toContain('third');
    // A change to a message not loaded is not added.
    expect(bodies(chatReducer(inOrder, changes(msg(9, { changeSeq: 4 }))))).toHaveLength(3);
  });

  it('updates the preview on edit and delete, without making the conversation unread', () => {
    let state = run(ready(conv({ lastMessage: msg(3) })), page([msg(1), msg(2), msg(3)]));
    state = chatReducer(state, changes(msg(3, { body: 'fixed', editedAt: 9, changeSeq: 1 })));
    expect(state.conversations.get(c1)!.lastMessage!.body).toBe('fixed');
    state = chatReducer(state, changes(msg(3, { body: '', deleted: true, changeSeq: 2 })));
    const c = state.conversations.get(c1)!;
    expect(c.lastMessage!.deleted).toBe(true);
    expect(c.unread).toBe(0);
    expect(c.lastSeq).toBe(3);
  });

  it('counts unread mentions of me from others, and drops them on read, delete or an edit that removes them', () => {
    let state = run(ready());
    const mention = (seq: number, over: Partial<Message> = {}) => msg(seq, { mentions: [me.id], ...over });
    state = chatReducer(state, { type: 'messages', conv: c1, messages: [mention(4), msg(5), mention(6)] });
    let c = state.conversations.get(c1)!;
    expect(c.unreadMentions).toBe(2);
    expect(c.mentionSeqs).toEqual([4, 6]);
    // Deleted: no longer counts.
    state = chatReducer(state, changes(msg(6, { deleted: true, body: '', changeSeq: 1 })));
    c = state.conversations.get(c1)!;
    expect(c.unreadMentions).toBe(1);
    expect(c.mentionSeqs).toEqual([4]);
    // An edit that mentions me again (not deleted) counts again; one that removes me does not.
    state = chatReducer(state, changes(msg(5, { mentions: [me.id], changeSeq: 2 })));
    expect(state.conversations.get(c1)!.mentionSeqs).toEqual([4, 5]);
    state = chatReducer(state, changes(msg(5, { changeSeq: 3 })));
    expect(state.conversations.get(c1)!.mentionSeqs).toEqual([4]);
    // Reading past them clears them; the fields disappear (absent, not 0).
    const read = chatReducer(state, { type: 'read', conv: c1, seq: 6 });
    c = read.conversations.get(c1)!;
    expect(c.unreadMentions).toBeUndefined();
    expect(c.mentionSeqs).toBeUndefined();
    // So does an own message (the server moves my marker past it), which itself never counts.
    const own = chatReducer(state, { type: 'messages', conv: c1, messages: [mention(7, { from: me.id })] });
    expect(own.conversations.get(c1)!.unreadMentions).toBeUndefined();
  });

  it('takes the SDK’s mention counts as they are', () => {
    let state = run(ready());
    state = chatReducer(state, { type: 'mentions', conv: c1, unreadMentions: 3, mentionSeqs: [2, 3] });
    expect(state.conversations.get(c1)).toMatchObject({ unreadMentions: 3, mentionSeqs: [2, 3] });
    expect(chatReducer(state, { type: 'mentions', conv: c1, unreadMentions: 3, mentionSeqs: [2, 3] })).toBe(
      state,
    );
  });

  it('keeps a loaded thread current: its root changes, live replies are added, pages merge', () => {
    const root = msg(2, { replyCount: 1, lastReplyAt: 1003, changeSeq: 1 });
    let state = run(ready(), page([msg(1), root, msg(3, { replyTo: 2, threadRoot: 2 })]));
    state = chatReducer(state, {
      type: 'threadPage',
      conv: c1,
      root,
      replies: [msg(3, { replyTo: 2, threadRoot: 2 })],
      limit: 50,
      reset: true,
    });
    const reply = msg(4, { replyTo: 3, threadRoot: 2 });
    state = chatReducer(state, { type: 'messages', conv: c1, messages: [reply] });
    state = chatReducer(state, changes(msg(2, { replyCount: 2, lastReplyAt: 1004, changeSeq: 2 })));
    const thread = state.threads.get(threadKey(c1, 2))!;
    expect(thread.replies.map((m) => m.seq)).toEqual([3, 4]);
    expect(thread.root!.replyCount).toBe(2);
    expect(state.histories.get(c1)!.messages[1]!.replyCount).toBe(2);
    // A reaction on a reply reaches the thread too.
    state = chatReducer(
      state,
      changes(
        msg(4, {
          replyTo: 3,
          threadRoot: 2,
          reactions: [{ emoji: '👍', count: 1, users: [me.id] }],
          changeSeq: 3,
        }),
      ),
    );
    expect(state.threads.get(threadKey(c1, 2))!.replies[1]!.reactions).toHaveLength(1);
  });

  it('loads context around a jump target without touching counts, and knows when it reached the start', () => {
    let state = run(ready(conv({ lastSeq: 100, lastReadSeq: 90, unread: 10 })), {
      type: 'olderPage',
      conv: c1,
      messages: [msg(99), msg(100)],
      limit: 2,
    });
    state = chatReducer(state, { type: 'context', conv: c1, messages: [msg(1), msg(2)] });
    const history = state.histories.get(c1)!;
    expect(history.messages.map((m) => m.seq)).toEqual([1, 2, 99, 100]);
    expect(history.hasOlder).toBe(false);
    expect(state.conversations.get(c1)!.unread).toBe(10);
  });
});
