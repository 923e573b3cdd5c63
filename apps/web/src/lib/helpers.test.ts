import { asConversationId, asMessageId, asUserId, type Conversation } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { hueOf, initialsOf } from './avatar.js';
import { checkDraft, counterVisible } from './composer.js';
import { conversationTitle, previewOf, sortConversations } from './conversations.js';

const conv = (over: Partial<Conversation>): Conversation => ({
  id: asConversationId('c'),
  kind: 'channel',
  name: 'general',
  lastSeq: 0,
  lastReadSeq: 0,
  unread: 0,
  memberCount: 2,
  members: [
    { id: asUserId('me'), username: 'ada' },
    { id: asUserId('u2'), username: 'bob' },
  ],
  lastMessage: null,
  lastActivityAt: 0,
  createdAt: 0,
  ...over,
});

describe('initials avatars', () => {
  it('takes the first letters of two name parts, or two letters of one', () => {
    expect(initialsOf('ada.lovelace')).toBe('AL');
    expect(initialsOf('bob')).toBe('BO');
    expect(initialsOf('x')).toBe('X');
    expect(initialsOf('__')).toBe('?');
  });

  it('gives a name the same hue every time', () => {
    expect(hueOf('bob')).toBe(hueOf('bob'));
    expect(hueOf('bob')).toBeGreaterThanOrEqual(0);
    expect(hueOf('bob')).toBeLessThan(360);
  });
});

describe('composer draft check', () => {
  it('refuses an empty or blank draft with a reason', () => {
    expect(checkDraft('   \n ')).toEqual({ ok: false, reason: 'Type a message first.', tooLong: false });
  });

  it('refuses an over-limit draft and says by how much', () => {
    const result = checkDraft('x'.repeat(12), 10);
    expect(result).toEqual({ ok: false, reason: 'Too long by 2 characters (limit 10).', tooLong: true });
  });

  it('accepts a draft at the limit and trims surrounding whitespace', () => {
    expect(checkDraft(`  ${'x'.repeat(10)}\n`, 10)).toEqual({ ok: true, body: 'x'.repeat(10) });
  });

  it('shows the counter only near the limit', () => {
    expect(counterVisible(100, 4000)).toBe(false);
    expect(counterVisible(3600, 4000)).toBe(true);
  });
});

describe('conversation list', () => {
  it('titles a DM after the other person and strips bidi controls from names', () => {
    expect(conversationTitle(conv({ kind: 'dm', name: null }), asUserId('me'))).toBe('bob');
    expect(conversationTitle(conv({ name: '\u202Egeneral' }), asUserId('me'))).toBe('general');
  });

  it('orders by most recent activity', () => {
    const sorted = sortConversations([
      conv({ id: asConversationId('a'), lastActivityAt: 1 }),
      conv({ id: asConversationId('b'), lastActivityAt: 3 }),
      conv({ id: asConversationId('c'), lastActivityAt: 2 }),
    ]);
    expect(sorted.map((c) => c.id)).toEqual(['b', 'c', 'a']);
  });

  it('previews the last message with its sender', () => {
    const last = {
      conv: asConversationId('c'),
      seq: 1,
      id: asMessageId('i'),
      from: asUserId('u2'),
      body: 'hi\n\nthere',
      ts: 0,
    };
    expect(previewOf(conv({ lastMessage: last }), asUserId('me'), () => 'bob')).toBe('bob: hi there');
    expect(
      previewOf(conv({ lastMessage: { ...last, from: asUserId('me') } }), asUserId('me'), () => 'ada'),
    ).toBe('You: hi there');
  });
});
