/**
 * What travels on the bus. A payload is a one-letter kind, header fields, and the
 * ready-to-send JSON frame, separated by newlines — so a replica routes it with a few
 * `indexOf` calls and writes the frame to its sockets without parsing or re-serializing
 * it (JSON strings never contain a raw newline, so the frame is always the last part).
 *
 * Topics: `conv:<id>` (messages, typing, member changes), `user:<id>` (the user's own
 * read markers and membership changes), `presence` (online/offline transitions).
 */
import type { ConversationId, UserId } from '@relay-chat/protocol';

export const convTopic = (id: ConversationId) => `conv:${id}`;
export const userTopic = (id: UserId) => `user:${id}`;
export const PRESENCE_TOPIC = 'presence';

export type BusEvent =
  /** A stored message: to every member's sockets. */
  | { kind: 'm'; frame: string }
  /** Typing: to every member's sockets but the typist's. */
  | { kind: 't'; user: UserId; frame: string }
  /** A conversation changed (member joined/left): to every member's sockets. */
  | { kind: 'c'; frame: string }
  /** A read marker: to the user's sockets but the one that sent it. */
  | { kind: 'r'; origin: string; frame: string }
  /** The user joined (or created) a conversation: subscribe, then deliver. */
  | { kind: 'j'; conv: ConversationId; frame: string }
  /** The user left a conversation: deliver, then unsubscribe. */
  | { kind: 'l'; conv: ConversationId; frame: string }
  /** Presence transition of a user. */
  | { kind: 'p'; user: UserId; frame: string };

export function encodeEvent(event: BusEvent): string {
  switch (event.kind) {
    case 'm':
    case 'c':
      return `${event.kind}\n${event.frame}`;
    case 't':
    case 'p':
      return `${event.kind}\n${event.user}\n${event.frame}`;
    case 'r':
      return `r\n${event.origin}\n${event.frame}`;
    case 'j':
    case 'l':
      return `${event.kind}\n${event.conv}\n${event.frame}`;
  }
}

export function decodeEvent(payload: string): BusEvent | undefined {
  const kind = payload[0];
  if (payload[1] !== '\n') return undefined;
  if (kind === 'm' || kind === 'c') return { kind, frame: payload.slice(2) };
  const cut = payload.indexOf('\n', 2);
  if (cut < 0) return undefined;
  const field = payload.slice(2, cut);
  const frame = payload.slice(cut + 1);
  switch (kind) {
    case 't':
    case 'p':
      return { kind, user: field, frame };
    case 'r':
      return { kind, origin: field, frame };
    case 'j':
    case 'l':
      return { kind, conv: field, frame };
    default:
      return undefined;
  }
}
