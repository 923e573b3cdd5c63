import type { Conversation, ConversationId, UserId } from '@relay-chat/protocol';

/** The part of a conversation that unread counting needs. */
export type ReadState = Pick<Conversation, 'lastSeq' | 'lastReadSeq' | 'unread'>;

/**
 * Unread messages are those after the read marker. The server moves a sender's own marker
 * past each message they send, so own messages never count.
 */
export function unreadOf(lastSeq: number, lastReadSeq: number): number {
  return Math.max(0, lastSeq - lastReadSeq);
}

/** A message arrived: the conversation grows; the sender's own message also counts as read. */
export function onMessage<T extends ReadState>(
  conv: T,
  seq: number,
  from: UserId,
  me: UserId | undefined,
): T {
  const lastSeq = Math.max(conv.lastSeq, seq);
  const lastReadSeq = from === me ? Math.max(conv.lastReadSeq, seq) : conv.lastReadSeq;
  if (lastSeq === conv.lastSeq && lastReadSeq === conv.lastReadSeq) return conv;
  return { ...conv, lastSeq, lastReadSeq, unread: unreadOf(lastSeq, lastReadSeq) };
}

/**
 * The read marker moved (on this device or, through the server's `read` event, on another).
 * Markers only move forward, so a late or repeated event changes nothing.
 */
export function onRead<T extends ReadState>(conv: T, seq: number): T {
  if (seq <= conv.lastReadSeq) return conv;
  const lastSeq = Math.max(conv.lastSeq, seq);
  return { ...conv, lastSeq, lastReadSeq: seq, unread: unreadOf(lastSeq, seq) };
}

/** Sum of unread messages and number of conversations with any, for the tab title; muted ones do not count. */
export function unreadTotals(
  conversations: Iterable<ReadState & { id: ConversationId; muted?: boolean | undefined }>,
): {
  messages: number;
  conversations: number;
} {
  let messages = 0;
  let withUnread = 0;
  for (const conv of conversations) {
    if (conv.unread > 0 && conv.muted !== true) {
      messages += conv.unread;
      withUnread += 1;
    }
  }
  return { messages, conversations: withUnread };
}

/** What a badge shows: the count, capped so it fits in the dot. */
export function badgeText(unread: number): string {
  return unread > 99 ? '99+' : String(unread);
}
