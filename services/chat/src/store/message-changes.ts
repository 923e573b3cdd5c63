import { ChatError, LIMITS, type Reaction, reactionProblem, type UserId } from '@relay-chat/protocol';
import { checkSeq, checkText, pageLimit } from './conversation-keys.js';
import type { StoredMessage } from './message-store.js';

/**
 * The rules of messages that change (protocol v1.2), written once for every backend: how a
 * message's optional fields are built from what a backend stores (so that every backend
 * returns the same object for the same state), how mentions are normalised, how reactions
 * are summarised, and how an `around` page is cut.
 */

/** A message row's columns of its own (not its mentions or reactions), as every backend reads them. */
export interface MessageCore {
  conv: StoredMessage['conv'];
  seq: number;
  id: StoredMessage['id'];
  from: UserId;
  clientMsgId: string;
  body: string;
  ts: number;
  replyTo?: number | null;
  threadRoot?: number | null;
  editedAt?: number | null;
  deleted?: boolean | number | null;
  replyCount?: number | null;
  lastReplyAt?: number | null;
  changeSeq?: number | null;
}

/** One stored reaction: who reacted with what, and the changeSeq that set it (its order). */
export interface ReactionRow {
  emoji: string;
  user: UserId;
  /** The changeSeq at which it was set: reactions are listed in this order. */
  order: number;
  /**
   * When this emoji was first put on the message: the changeSeq of the oldest reaction with
   * it at the time this one was set (kept while anyone still reacts with it), which orders
   * the emoji. Default `order`.
   */
  first?: number;
  /** How many users reacted with this emoji (exact), when the backend counted them; else counted here. */
  count?: number;
}

/**
 * Builds a stored message: the optional fields are present only when they say something
 * (never null, 0, false or []), as models.ts requires.
 */
export function buildMessage(
  core: MessageCore,
  mentions: readonly UserId[] = [],
  reactions: readonly ReactionRow[] = [],
): StoredMessage {
  const message: StoredMessage = {
    conv: core.conv,
    seq: Number(core.seq),
    id: core.id,
    from: core.from,
    body: core.body,
    ts: Number(core.ts),
    clientMsgId: core.clientMsgId,
  };
  if (core.replyTo != null) message.replyTo = Number(core.replyTo);
  if (core.threadRoot != null) message.threadRoot = Number(core.threadRoot);
  if (mentions.length > 0) message.mentions = [...mentions];
  if (core.editedAt != null) message.editedAt = Number(core.editedAt);
  if (core.deleted) message.deleted = true;
  const summary = summarizeReactions(reactions);
  if (summary.length > 0) message.reactions = summary;
  if (core.replyCount != null && Number(core.replyCount) > 0) message.replyCount = Number(core.replyCount);
  if (core.lastReplyAt != null) message.lastReplyAt = Number(core.lastReplyAt);
  if (core.changeSeq != null) message.changeSeq = Number(core.changeSeq);
  return message;
}

/** A message without its sender's client-made id (a conversation's last-message preview). */
export function withoutClientMsgId(message: StoredMessage): Omit<StoredMessage, 'clientMsgId'> {
  const { clientMsgId: _, ...rest } = message;
  return rest;
}

/**
 * A message as `userId` sees it. The client-made id is the sender's own business: it lets
 * their devices recognise a message whose ack was lost. Nobody else sees it.
 */
export function shownTo(message: StoredMessage, userId: UserId): Omit<StoredMessage, 'clientMsgId'> {
  return message.from === userId ? message : withoutClientMsgId(message);
}

/**
 * The reaction summary of one message: one entry per emoji, in the order each emoji was first
 * put on it (an emoji that all its users cleared and someone set again counts from then), its users in reaction order, at most
 * LIMITS.reactionUsersShown of them listed, `count` exact. `rows` may be cut to the first
 * LIMITS.reactionUsersShown users of each emoji when each carries its exact `count`.
 */
export function summarizeReactions(rows: readonly ReactionRow[]): Reaction[] {
  if (rows.length === 0) return [];
  const byEmoji = new Map<
    string,
    { first: number; users: { user: UserId; order: number }[]; count: number }
  >();
  for (const row of rows) {
    let entry = byEmoji.get(row.emoji);
    if (!entry) {
      entry = { first: Number(row.first ?? row.order), users: [], count: 0 };
      byEmoji.set(row.emoji, entry);
    }
    entry.first = Math.min(entry.first, Number(row.first ?? row.order));
    entry.users.push({ user: row.user, order: Number(row.order) });
    entry.count = row.count === undefined ? entry.count + 1 : Number(row.count);
  }
  return [...byEmoji.entries()]
    .sort((a, b) => a[1].first - b[1].first)
    .map(([emoji, e]) => ({
      emoji,
      count: e.count,
      users: e.users
        .sort((a, b) => a.order - b.order)
        .slice(0, LIMITS.reactionUsersShown)
        .map((u) => u.user),
    }));
}

/** Mentions as stored: each user once, in the order given, without the sender. */
export function normalizeMentions(sender: UserId, mentions: readonly UserId[] | undefined): UserId[] {
  if (!mentions) return [];
  for (const user of mentions) checkText('mentions', user);
  return [...new Set(mentions)].filter((u) => u !== sender);
}

/** Whether two mention lists are the same (same users in the same order). */
export function sameMentions(a: readonly UserId[], b: readonly UserId[]): boolean {
  return a.length === b.length && a.every((u, i) => u === b[i]);
}

/** `validation_failed` on /mentions: a mentioned user is not a member. */
export function badMentions(): ChatError {
  return new ChatError('validation_failed', 'every mentioned user must be a member', {
    fields: [{ field: '/mentions', message: 'must be members of the conversation' }],
  });
}

/** Checks a reaction's emoji (`validation_failed` on /emoji). */
export function checkEmoji(emoji: string): void {
  const problem = reactionProblem(emoji);
  if (problem) {
    throw new ChatError('validation_failed', problem, { fields: [{ field: '/emoji', message: problem }] });
  }
}

/** Checks a message seq named by a caller: a whole number ≥ 1 that is a safe integer. */
export function checkMessageSeq(seq: number): void {
  checkSeq('seq', seq);
}

/** The refusals of a change, in the order they are checked. */
export function noConversation(): ChatError {
  return new ChatError('not_found', 'no such conversation');
}
export function noMessage(): ChatError {
  return new ChatError('not_found', 'no such message');
}
export function notMember(): ChatError {
  return new ChatError('not_member');
}

/** Why `actor` may not edit `message` (forbidden, conflict), or nothing when they may. */
export function checkEdit(message: { from: UserId; deleted?: boolean | number | null }, actor: UserId): void {
  if (message.from !== actor) throw new ChatError('forbidden', 'only its sender may edit a message');
  if (message.deleted) throw new ChatError('conflict', 'a deleted message cannot be edited');
}

/** Delete: its sender, or the owner of a group or channel. */
export function checkDelete(
  message: { from: UserId },
  conversation: { kind: string; createdBy: UserId },
  actor: UserId,
): void {
  if (message.from === actor) return;
  if (conversation.kind !== 'dm' && conversation.createdBy === actor) return;
  throw new ChatError('forbidden', 'only its sender or the conversation’s owner may delete a message');
}

export function reactToDeleted(): ChatError {
  return new ChatError('conflict', 'a deleted message takes no reactions');
}

export function tooManyReactions(maxDistinct: number): ChatError {
  return new ChatError('conflict', `a message carries at most ${maxDistinct} different reactions`);
}

/** A page size for changes and threads: a whole number ≥ 0. */
export function changesLimit(limit: number): number {
  return pageLimit(limit);
}

/**
 * Cuts an `around` page: up to `limit` messages with `seq` in the middle — half before it,
 * the rest from it on; when one side has fewer, the other side fills the page. `before` is
 * in descending seq (nearest first), `from` ascending from `seq` on, each up to `limit` long.
 */
export function aroundPage<T>(before: readonly T[], from: readonly T[], limit: number): T[] {
  const n = pageLimit(limit);
  let nb = Math.min(before.length, Math.floor(n / 2));
  const na = Math.min(from.length, n - nb);
  nb = Math.min(before.length, n - na);
  return [...before.slice(0, nb).reverse(), ...from.slice(0, na)];
}
