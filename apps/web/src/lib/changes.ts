import type { Message, Reaction, UserId } from '@relay-chat/protocol';

/**
 * Messages that change (protocol v1.2): every copy of a message carries its whole state and
 * the `changeSeq` of its last change (absent: never changed). Of two copies of one message
 * the one with the higher `changeSeq` is current, whatever order they arrived in (a live
 * `change`, a history page, a thread page, a catch-up answer).
 */
export function changeSeqOf(message: Message): number {
  return message.changeSeq ?? 0;
}

/**
 * The current one of two copies of the same message. On a tie the server's copies are equal;
 * the only other copy is the one made from our own send's ack, which lacks what the server
 * adds (a thread root it computed): the copy with more fields wins, else `known` stays.
 */
export function newerCopy(known: Message, incoming: Message): Message {
  const a = changeSeqOf(known);
  const b = changeSeqOf(incoming);
  if (b !== a) return b > a ? incoming : known;
  return Object.keys(incoming).length > Object.keys(known).length ? incoming : known;
}

/**
 * Replaces the copies in `messages` that `incoming` has a newer state of. Returns the same
 * array when nothing changed, so React can compare by reference. Messages not in the list
 * are not added (a change to a message not loaded: history fetched later is current).
 */
export function applyChanges(messages: readonly Message[], incoming: readonly Message[]): Message[] {
  if (incoming.length === 0 || messages.length === 0) return messages as Message[];
  const bySeq = new Map<number, Message>();
  for (const m of incoming) {
    const had = bySeq.get(m.seq);
    bySeq.set(m.seq, had ? newerCopy(had, m) : m);
  }
  let next: Message[] | undefined;
  for (let i = 0; i < messages.length; i += 1) {
    const known = messages[i]!;
    const update = bySeq.get(known.seq);
    if (!update) continue;
    const winner = newerCopy(known, update);
    if (winner === known) continue;
    next ??= [...messages];
    next[i] = winner;
  }
  return next ?? (messages as Message[]);
}

/** Whether the user may edit this message: their own, not deleted. */
export function canEdit(message: Message, me: UserId | undefined): boolean {
  return me !== undefined && message.from === me && message.deleted !== true;
}

/**
 * Whether the user may delete this message: their own, or anyone's in a group or channel
 * they own (created). Not a DM's other side, not a tombstone.
 */
export function canDelete(
  message: Message,
  me: UserId | undefined,
  conv: { kind: string; createdBy?: UserId | undefined },
): boolean {
  if (me === undefined || message.deleted === true) return false;
  if (message.from === me) return true;
  return conv.kind !== 'dm' && conv.createdBy === me;
}

/** Whether `user` has reacted with this reaction (only the listed users are known). */
export function reactedBy(reaction: Reaction, user: UserId | undefined): boolean {
  return user !== undefined && reaction.users.includes(user);
}

/** Who reacted, for a tooltip: "ada, bob and 3 others reacted with 👍". */
export function reactionTooltip(
  reaction: Reaction,
  nameOf: (id: UserId) => string,
  me: UserId | undefined,
): string {
  const names = reaction.users.map((id) => (id === me ? 'you' : nameOf(id)));
  const others = Math.max(0, reaction.count - names.length);
  const parts = others > 0 ? [...names, `${others} other${others === 1 ? '' : 's'}`] : names;
  let who: string;
  if (parts.length <= 1) who = parts[0] ?? 'Nobody';
  else who = `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
  return `${who.charAt(0).toUpperCase()}${who.slice(1)} reacted with ${reaction.emoji}`;
}

/** The curated emoji of the picker (quick ones first). */
export const QUICK_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢'] as const;
export const PICKER_EMOJI = [
  ...QUICK_EMOJI,
  '🙏',
  '👀',
  '🔥',
  '✅',
  '❌',
  '👏',
  '🙌',
  '🤔',
  '😅',
  '😍',
  '🚀',
  '💯',
  '👌',
  '😎',
  '🤝',
  '💡',
  '⚠️',
  '☕',
] as const;

/** The picker's list: the curated set, then emoji already used on the message that are not in it. */
export function pickerEmoji(existing: readonly Reaction[] | undefined): string[] {
  const list: string[] = [...PICKER_EMOJI];
  for (const r of existing ?? []) if (!list.includes(r.emoji)) list.push(r.emoji);
  return list;
}

/** One line of a message for a quote or a preview: flattened, cut to `max` characters. */
export function snippet(message: Pick<Message, 'body' | 'deleted'>, max = 120): string {
  if (message.deleted === true) return 'Message deleted';
  const text = message.body.replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** "1 reply", "3 replies". */
export function replyCountLabel(count: number): string {
  return `${count} ${count === 1 ? 'reply' : 'replies'}`;
}

/** The last message the user sent that they can still edit, newest first. */
export function lastEditable(messages: readonly Message[], me: UserId | undefined): Message | undefined {
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const m = messages[i]!;
    if (canEdit(m, me)) return m;
  }
  return undefined;
}
