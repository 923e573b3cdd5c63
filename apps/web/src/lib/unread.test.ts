import { asConversationId, asUserId } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { badgeText, onMessage, onRead, unreadOf, unreadTotals } from './unread.js';

const conv = (lastSeq: number, lastReadSeq: number) => ({
  id: asConversationId('c'),
  lastSeq,
  lastReadSeq,
  unread: unreadOf(lastSeq, lastReadSeq),
});

describe('unread counting', () => {
  it('counts messages from others after the read marker', () => {
    let c = conv(3, 3);
    c = onMessage(c, 4, asUserId('bob'), asUserId('me'));
    c = onMessage(c, 5, asUserId('bob'), asUserId('me'));
    expect(c.unread).toBe(2);
  });

  it('treats an own message as read, and everything before it', () => {
    let c = conv(3, 1);
    c = onMessage(c, 4, asUserId('me'), asUserId('me'));
    expect(c).toMatchObject({ lastSeq: 4, lastReadSeq: 4, unread: 0 });
  });

  it('ignores a message seen twice', () => {
    const c = onMessage(conv(3, 1), 4, asUserId('bob'), asUserId('me'));
    expect(onMessage(c, 4, asUserId('bob'), asUserId('me'))).toBe(c);
    expect(onMessage(c, 2, asUserId('bob'), asUserId('me'))).toBe(c);
  });

  it('clears when a read marker arrives from another device', () => {
    const c = onRead(conv(7, 2), 7);
    expect(c.unread).toBe(0);
  });

  it('clears partly when read up to the middle', () => {
    expect(onRead(conv(7, 2), 5).unread).toBe(2);
  });

  it('never moves the marker backwards', () => {
    const c = conv(7, 5);
    expect(onRead(c, 3)).toBe(c);
  });

  it('sums unread messages and conversations for the title', () => {
    expect(unreadTotals([conv(5, 2), conv(2, 2), conv(9, 8)])).toEqual({ messages: 4, conversations: 2 });
    // Muted conversations count for nothing.
    expect(unreadTotals([conv(5, 2), { ...conv(9, 1), muted: true }])).toEqual({
      messages: 3,
      conversations: 1,
    });
  });

  it('caps the badge text', () => {
    expect(badgeText(1)).toBe('1');
    expect(badgeText(99)).toBe('99');
    expect(badgeText(100)).toBe('99+');
  });
});
