/**
 * What travels on the bus: a typed envelope whose routing facts (kind, seq, origin, the
 * members to watch …) travel beside the ready-to-send frame, so a receiving replica routes
 * an event from its header and writes the frame to its sockets without parsing, scanning
 * or re-serializing it.
 *
 * Wire form: `<kind letter>\n<header fields, tab-separated>\n<frame JSON>`. Header fields
 * are ids (`[A-Za-z0-9_-]`), numbers and comma-separated id lists, so they never hold a
 * tab or a newline; JSON text never holds a raw newline, so the frame is always the rest.
 *
 * Topics: `conv:<id>` (messages, message changes, typing, member and conversation changes), `user:<id>` (the
 * user's own read markers, membership changes and settings), `presence` (online/offline
 * transitions).
 */
import {
  asConversationId,
  asUserId,
  type ConversationId,
  type ConversationKind,
  type UserId,
} from '@relay-chat/protocol';

export const convTopic = (id: ConversationId) => `conv:${id}`;
export const userTopic = (id: UserId) => `user:${id}`;
export const PRESENCE_TOPIC = 'presence';

export type BusEvent =
  /** A stored message (conv topic): to every member's sockets, in `seq` order. */
  | { kind: 'message'; seq: number; frame: string }
  /**
   * A message changed — edited, deleted, a reaction set or cleared, a reply added to its
   * thread (conv topic, protocol v1.2): to every member's sockets, the actor's own devices
   * included, as it arrives. `changeSeq` is the conversation's change counter after it,
   * `seq` the changed message's. Not reordered by replicas: the whole state travels, and
   * clients order changes by `changeSeq` (see docs/design-notes.md).
   */
  | { kind: 'change'; changeSeq: number; seq: number; frame: string }
  /** Typing (conv topic): to every member's sockets but the typist's. */
  | { kind: 'typing'; user: UserId; frame: string }
  /**
   * A conversation changed — a member joined or left, it was renamed (conv topic): to every
   * member's sockets, which first start watching the presence of `watch` (someone who joined
   * a DM or group; empty otherwise) and are told their current status.
   */
  | { kind: 'conversation'; watch: UserId[]; frame: string }
  /** A read marker (user topic): to the user's sockets but the session it came from. */
  | { kind: 'read'; origin: string; frame: string }
  /**
   * The user joined or created a conversation (user topic): subscribe, watch the presence
   * of `contacts` (the other members of a DM or group; none for channels), then deliver.
   */
  | {
      kind: 'joined';
      conv: ConversationId;
      convKind: ConversationKind;
      contacts: UserId[];
      frame: string;
    }
  /** The user left a conversation (user topic): deliver, then unsubscribe. */
  | { kind: 'left'; conv: ConversationId; frame: string }
  /** The user's own view of a conversation changed — muted, hidden (user topic): to every one of their sockets. */
  | { kind: 'settings'; frame: string }
  /** A presence transition of `user` (presence topic). */
  | { kind: 'presence'; user: UserId; frame: string };

export type BusEventKind = BusEvent['kind'];

const LETTER: Record<BusEventKind, string> = {
  message: 'm',
  change: 'e',
  typing: 't',
  conversation: 'c',
  read: 'r',
  joined: 'j',
  left: 'l',
  settings: 's',
  presence: 'p',
};
const KIND_OF: Record<string, BusEventKind> = Object.fromEntries(
  Object.entries(LETTER).map(([kind, letter]) => [letter, kind as BusEventKind]),
);
const KINDS: readonly string[] = ['dm', 'group', 'channel'];

/** The header fields of an event, in wire order. */
function headerOf(event: BusEvent): string[] {
  switch (event.kind) {
    case 'message':
      return [String(event.seq)];
    case 'change':
      return [String(event.changeSeq), String(event.seq)];
    case 'typing':
    case 'presence':
      return [event.user];
    case 'conversation':
      return [event.watch.join(',')];
    case 'settings':
      return [];
    case 'read':
      return [event.origin];
    case 'joined':
      return [event.conv, event.convKind, event.contacts.join(',')];
    case 'left':
      return [event.conv];
  }
}

export function encodeEvent(event: BusEvent): string {
  return `${LETTER[event.kind]}\n${headerOf(event).join('\t')}\n${event.frame}`;
}

/** The event of a payload, or undefined when it is not one this replica understands. */
export function decodeEvent(payload: string): BusEvent | undefined {
  if (payload[1] !== '\n') return undefined;
  const kind = KIND_OF[payload[0]!];
  const cut = payload.indexOf('\n', 2);
  if (kind === undefined || cut < 0) return undefined;
  const fields = cut === 2 ? [] : payload.slice(2, cut).split('\t');
  const frame = payload.slice(cut + 1);
  switch (kind) {
    case 'message': {
      const seq = Number(fields[0]);
      return Number.isSafeInteger(seq) && seq > 0 ? { kind, seq, frame } : undefined;
    }
    case 'change': {
      const changeSeq = Number(fields[0]);
      const seq = Number(fields[1]);
      return isPositive(changeSeq) && isPositive(seq) ? { kind, changeSeq, seq, frame } : undefined;
    }
    case 'typing':
    case 'presence':
      return fields[0] ? { kind, user: asUserId(fields[0]), frame } : undefined;
    case 'conversation':
      // An envelope without the field (an older replica's) watches no one.
      return { kind, watch: idList(fields[0]), frame };
    case 'settings':
      return { kind, frame };
    case 'read':
      return fields[0] ? { kind, origin: fields[0], frame } : undefined;
    case 'joined': {
      const [conv, convKind, contacts = ''] = fields;
      if (!conv || !convKind || !KINDS.includes(convKind)) return undefined;
      return {
        kind,
        conv: asConversationId(conv),
        convKind: convKind as ConversationKind,
        contacts: idList(contacts),
        frame,
      };
    }
    case 'left':
      return fields[0] ? { kind, conv: asConversationId(fields[0]), frame } : undefined;
  }
}

function isPositive(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0;
}

function idList(field: string | undefined): UserId[] {
  return field === undefined || field === '' ? [] : field.split(',').map(asUserId);
}
