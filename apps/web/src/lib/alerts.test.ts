import {
  asConversationId,
  asMessageId,
  asUserId,
  type Conversation,
  type Message,
} from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { type AlertContext, documentTitle, mentions, notificationText, shouldAlert } from './alerts.js';

const me = { id: asUserId('me'), username: 'ada' };
const conv = (over: Partial<Conversation> = {}): Conversation => ({
  id: asConversationId('c1'),
  kind: 'dm',
  name: null,
  lastSeq: 3,
  lastReadSeq: 2,
  unread: 1,
  memberCount: 2,
  members: [],
  lastMessage: null,
  lastActivityAt: 0,
  createdAt: 0,
  ...over,
});
const msg = (over: Partial<Message> = {}): Message => ({
  conv: asConversationId('c1'),
  seq: 3,
  id: asMessageId('m3'),
  from: asUserId('bob'),
  body: 'hello',
  ts: 10_000,
  ...over,
});
const ctx = (over: Partial<AlertContext> = {}): AlertContext => ({
  me,
  conversation: conv(),
  hidden: true,
  openId: undefined,
  now: 10_500,
  ...over,
});

describe('alerts', () => {
  it('alerts for a fresh DM from someone else while the tab is hidden', () => {
    expect(shouldAlert(msg(), ctx())).toBe(true);
  });

  it('stays quiet for own, read, old, or on-screen messages', () => {
    expect(shouldAlert(msg({ from: me.id }), ctx())).toBe(false);
    expect(shouldAlert(msg({ seq: 2 }), ctx())).toBe(false);
    expect(shouldAlert(msg(), ctx({ now: 10_000 + 3 * 60_000 }))).toBe(false);
    expect(shouldAlert(msg(), ctx({ hidden: false, openId: 'c1' }))).toBe(false);
    // Visible, but another conversation is open: still news.
    expect(shouldAlert(msg(), ctx({ hidden: false, openId: 'c2' }))).toBe(true);
  });

  it('alerts in channels and groups only when mentioned', () => {
    const channel = conv({ kind: 'channel', name: 'news' });
    expect(shouldAlert(msg(), ctx({ conversation: channel }))).toBe(false);
    expect(shouldAlert(msg({ body: 'ping @Ada, look' }), ctx({ conversation: channel }))).toBe(true);
  });

  it('alerts for a mention carried as a user id (protocol v1.2), even when muted', () => {
    const channel = conv({ kind: 'channel', name: 'news', muted: true });
    expect(shouldAlert(msg({ body: 'ping @ada2', mentions: [me.id] }), ctx({ conversation: channel }))).toBe(
      true,
    );
    expect(
      shouldAlert(msg({ body: 'ping', mentions: [asUserId('other')] }), ctx({ conversation: channel })),
    ).toBe(false);
  });

  it('stays quiet for a muted conversation unless the reader is mentioned', () => {
    const muted = conv({ muted: true });
    expect(shouldAlert(msg(), ctx({ conversation: muted }))).toBe(false);
    expect(shouldAlert(msg({ body: '@ada look' }), ctx({ conversation: muted }))).toBe(true);
  });

  it('finds mentions as whole names only', () => {
    expect(mentions('@ada hi', 'ada')).toBe(true);
    expect(mentions('hi @ada.', 'ada')).toBe(true);
    expect(mentions('hi @adam', 'ada')).toBe(false);
    expect(mentions('mail ada@example.com', 'ada')).toBe(false);
    expect(mentions('@a.a', 'a.a')).toBe(true);
    expect(mentions('@aba', 'a.a')).toBe(false);
  });

  it('writes the notification and the tab title', () => {
    expect(notificationText(msg({ body: 'a\n\nb' }), conv(), 'bob', 'bob')).toEqual({
      title: 'bob',
      body: 'a b',
    });
    expect(notificationText(msg(), conv({ kind: 'channel' }), 'bob', 'news').title).toBe('bob in #news');
    expect(notificationText(msg({ body: 'x'.repeat(300) }), conv(), 'bob', 'bob').body).toHaveLength(140);
    expect(documentTitle('bob', 3)).toBe('(3) bob · relay');
    expect(documentTitle(undefined, 0)).toBe('relay');
  });
});
