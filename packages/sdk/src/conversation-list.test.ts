import {
  asConversationId,
  asMessageId,
  asUserId,
  type Conversation,
  type Message,
} from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { ConversationList } from './conversation-list.js';

const conv = (id: string, lastSeq: number, lastReadSeq: number, lastActivityAt = 0): Conversation => ({
  id: asConversationId(id),
  kind: 'group',
  name: id,
  lastSeq,
  lastReadSeq,
  unread: lastSeq - lastReadSeq,
  memberCount: 2,
  members: [],
  lastMessage: null,
  lastActivityAt,
  createdAt: 0,
});
const msg = (seq: number, from = 'u2', conversation = 'c1'): Message => ({
  conv: asConversationId(conversation),
  seq,
  id: asMessageId(`m${seq}`),
  from: asUserId(from),
  body: 'b',
  ts: 1_000 + seq,
});

describe('ConversationList', () => {
  it('counts a delivered message as unread, and one of our own as read', () => {
    const list = new ConversationList();
    list.reset([conv('c1', 2, 2)], asUserId('me'));
    expect(list.applyMessage(msg(3))).toMatchObject({ lastSeq: 3, unread: 1, lastMessage: msg(3) });
    expect(list.applyMessage(msg(4, 'me'))).toMatchObject({ lastSeq: 4, lastReadSeq: 4, unread: 0 });
  });

  it('ignores an older message filled in from history', () => {
    const list = new ConversationList();
    list.reset([conv('c1', 9, 5)], asUserId('me'));
    const before = list.get(asConversationId('c1'));
    expect(list.applyMessage(msg(6))).toBe(before);
  });

  it('moves the read marker forward only', () => {
    const list = new ConversationList();
    list.reset([conv('c1', 9, 5)], asUserId('me'));
    expect(list.applyRead(asConversationId('c1'), 8)).toMatchObject({ lastReadSeq: 8, unread: 1 });
    expect(list.applyRead(asConversationId('c1'), 2)).toMatchObject({ lastReadSeq: 8 });
  });

  it('keeps local progress when the server sends an older snapshot of a conversation', () => {
    const list = new ConversationList();
    list.reset([conv('c1', 2, 2)], asUserId('me'));
    list.applyMessage(msg(3));
    expect(list.upsert({ ...conv('c1', 2, 2), name: 'renamed' })).toMatchObject({
      name: 'renamed',
      lastSeq: 3,
      unread: 1,
    });
  });

  it('lists the most recently active first', () => {
    const list = new ConversationList();
    list.reset([conv('a', 0, 0, 1), conv('b', 0, 0, 3), conv('c', 0, 0, 2)], asUserId('me'));
    expect(list.all().map((c) => c.id)).toEqual(['b', 'c', 'a']);
    list.applyMessage(msg(1, 'u2', 'a'));
    expect(list.all()[0]?.id).toBe('a');
  });

  it('replaces a changed conversation with a new object and leaves the old one untouched', () => {
    const list = new ConversationList();
    list.reset([conv('c1', 0, 0)], asUserId('me'));
    const before = list.get(asConversationId('c1'));
    const after = list.applyMessage(msg(1));
    expect(after).not.toBe(before);
    expect(before?.lastSeq).toBe(0);
  });

  it('takes only the shared fields of a member or rename event, keeping the caller’s own and the preview', () => {
    const list = new ConversationList();
    list.reset([{ ...conv('c1', 2, 1), muted: true, topic: null }], asUserId('me'));
    list.applyMessage(msg(3));
    const shared = {
      ...conv('c1', 3, 0),
      name: 'renamed',
      topic: 'June',
      memberCount: 3,
      members: [{ id: asUserId('u3'), username: 'cat' }],
      lastMessage: null,
      muted: false,
      hidden: false,
    };
    expect(list.applyShared(shared)).toMatchObject({
      name: 'renamed',
      topic: 'June',
      memberCount: 3,
      members: [{ username: 'cat' }],
      lastSeq: 3,
      lastReadSeq: 1,
      unread: 2,
      muted: true,
      lastMessage: msg(3),
    });
    expect(list.applyShared(conv('unknown', 0, 0))).toBeUndefined();
    expect(list.has(asConversationId('unknown'))).toBe(false);
  });

  it('takes a newer last message from a shared event', () => {
    const list = new ConversationList();
    list.reset([conv('c1', 1, 1)], asUserId('me'));
    expect(list.applyShared({ ...conv('c1', 2, 0, 5), lastMessage: msg(2) })).toMatchObject({
      lastSeq: 2,
      lastReadSeq: 1,
      unread: 1,
      lastMessage: msg(2),
      lastActivityAt: 5,
    });
  });

  it('leaves a hidden DM out of the list until its next message', () => {
    const list = new ConversationList();
    list.reset([conv('a', 1, 1, 1), conv('b', 1, 1, 2)], asUserId('me'));
    list.upsert({ ...conv('a', 1, 1, 1), hidden: true });
    expect(list.all().map((c) => c.id)).toEqual(['b']);
    expect(list.all({ includeHidden: true }).map((c) => c.id)).toEqual(['b', 'a']);
    expect(list.applyMessage(msg(1, 'u2', 'a'))).toMatchObject({ hidden: true });
    expect(list.applyMessage(msg(2, 'u2', 'a'))).toMatchObject({ hidden: false, unread: 1 });
    expect(list.all().map((c) => c.id)).toEqual(['a', 'b']);
  });

  it('shows a changed last message (a tombstone after a delete) and keeps the newest state', () => {
    const list = new ConversationList();
    list.reset([{ ...conv('c1', 3, 3), lastMessage: msg(3) }], asUserId('me'));
    const tombstone: Message = { ...msg(3), body: '', deleted: true, changeSeq: 5 };
    expect(list.applyChange(tombstone)).toMatchObject({ lastMessage: tombstone, lastChangeSeq: 5 });
    expect(list.applyChange({ ...msg(3), body: 'old', changeSeq: 4 })?.lastMessage).toEqual(tombstone);
    // Another message's change leaves the preview alone; a change is not unread.
    expect(list.applyChange({ ...msg(2), editedAt: 9, changeSeq: 6 })).toMatchObject({
      lastMessage: tombstone,
      unread: 0,
      lastActivityAt: 0,
    });
  });

  it('keeps unread mentions live: messages and changes mentioning me, read markers', () => {
    const me = asUserId('me');
    const list = new ConversationList();
    list.reset([{ ...conv('c1', 2, 0), unreadMentions: 1, mentionSeqs: [2] }], me);
    expect(list.applyMessage({ ...msg(3), mentions: [me] })).toMatchObject({
      unreadMentions: 2,
      mentionSeqs: [2, 3],
    });
    expect(list.applyChange({ ...msg(2), editedAt: 5, changeSeq: 1 })).toMatchObject({
      unreadMentions: 1,
      mentionSeqs: [3],
    });
    expect(list.applyRead(asConversationId('c1'), 3)).toMatchObject({ unreadMentions: 0, mentionSeqs: [] });
    // Known conversations keep their live count when the server's view comes again.
    list.applyMessage({ ...msg(4), mentions: [me] });
    expect(list.upsert({ ...conv('c1', 4, 3), unreadMentions: 0, mentionSeqs: [] })).toMatchObject({
      unreadMentions: 1,
      mentionSeqs: [4],
    });
    // A conversation first seen takes the server's.
    expect(list.upsert({ ...conv('c2', 9, 0), unreadMentions: 3, mentionSeqs: [7, 8, 9] })).toMatchObject({
      unreadMentions: 3,
      mentionSeqs: [7, 8, 9],
    });
  });

  it('adds no mention fields to a conversation from a server that sends none, until one counts', () => {
    const list = new ConversationList();
    list.reset([conv('c1', 0, 0)], asUserId('me'));
    expect(list.applyMessage(msg(1))).not.toHaveProperty('unreadMentions');
    expect(list.applyMessage({ ...msg(2), mentions: [asUserId('me')] })).toMatchObject({ unreadMentions: 1 });
  });
});
