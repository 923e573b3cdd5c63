import {
  ChatError,
  type ConversationId,
  LIMITS,
  type Message,
  type MessageId,
  type Reaction,
  reactionProblem,
  type UserId,
} from '@relay-chat/protocol';
import { checkText, pageLimit } from './conversation-keys.js';
import type { StoredMessage } from './message-store.js';

/**
 * The MongoDB store's message documents and the pure rules around them (protocol v1.2,
 * messages that change): how a document becomes the `Message` every backend returns for
 * the same state, how reactions are kept and summarised, how mentions are normalised and
 * how an `around` page is cut. No database here, so all of it is unit-tested
 * (`mongo-messages.test.ts`) even though no MongoDB server runs on the build machines.
 *
 * The rules are the same as the SQL stores' (see docs/design-notes.md, "Messages that
 * change"): optional fields are present only when they say something — never null, 0,
 * false or [] — so a message read from MongoDB deep-equals the one SQLite or PostgreSQL
 * returns for the same history of operations.
 */

/** One user's reaction with one emoji. A message keeps them in the order they were set. */
export interface ReactionDoc {
  emoji: string;
  user: UserId;
}

/**
 * A message (`messages` collection). The fields after `ts` came with schema 5; each is
 * absent when it says nothing (a document written before schema 5 is a plain message).
 */
export interface MessageDoc {
  /** The message id. */
  _id: MessageId;
  conv: ConversationId;
  seq: number;
  sender: UserId;
  clientMsgId: string;
  /** '' once deleted. */
  body: string;
  ts: number;
  /** The seq this message answers (same conversation). */
  replyTo?: number;
  /** Its thread's root: the parent's threadRoot, else the parent's seq. */
  threadRoot?: number;
  /** Users mentioned, each once, in the order given, never the sender; absent when none. */
  mentions?: UserId[];
  /** When its body last changed; absent when never edited (and once deleted). */
  editedAt?: number;
  /** A tombstone: body '', no mentions, no reactions. */
  deleted?: true;
  /**
   * Every current reaction, in the order they were set (a reaction set again after being
   * cleared goes to the end). Emoji order and user order are derived from it; absent when none.
   */
  reactions?: ReactionDoc[];
  /** Replies in this message's thread, as its root; absent when none. */
  replyCount?: number;
  /** When the last reply came; absent when none. */
  lastReplyAt?: number;
  /** The conversation's change counter at this message's last change; absent when never changed. */
  changeSeq?: number;
  /**
   * searchText(body) (schema 6, see mongo-search.ts): set with the body by the insert or
   * edit, removed by the delete; absent on a tombstone.
   */
  searchText?: string;
  /** Its place in storage order for search (schema 6): set at insert, kept by edits; below 0 when backfilled. */
  searchId?: number;
}

/** The message as every store returns it (optional fields only when they say something). */
export function toStoredMessage(doc: MessageDoc): StoredMessage {
  const message: StoredMessage = {
    conv: doc.conv,
    seq: doc.seq,
    id: doc._id,
    from: doc.sender,
    body: doc.body,
    ts: doc.ts,
    clientMsgId: doc.clientMsgId,
  };
  if (isCount(doc.replyTo)) message.replyTo = doc.replyTo;
  if (isCount(doc.threadRoot)) message.threadRoot = doc.threadRoot;
  if (doc.deleted !== true) {
    // A tombstone has no mentions, reactions or edit time, even if a half-upgraded
    // document still held some.
    if (doc.mentions && doc.mentions.length > 0) message.mentions = [...doc.mentions];
    if (typeof doc.editedAt === 'number') message.editedAt = doc.editedAt;
  }
  if (doc.deleted === true) message.deleted = true;
  if (doc.deleted !== true) {
    const reactions = summarizeReactions(doc.reactions ?? []);
    if (reactions.length > 0) message.reactions = reactions;
  }
  if (isCount(doc.replyCount)) {
    message.replyCount = doc.replyCount;
    if (typeof doc.lastReplyAt === 'number') message.lastReplyAt = doc.lastReplyAt;
  }
  if (isCount(doc.changeSeq)) message.changeSeq = doc.changeSeq;
  return message;
}

/** A message as listed (a conversation's last-message preview), without the sender's client-made id. */
export function toMessage(doc: MessageDoc): Message {
  const { clientMsgId: _, ...message } = toStoredMessage(doc);
  return message;
}

function isCount(value: number | undefined): value is number {
  return typeof value === 'number' && value >= 1;
}

/**
 * The reaction summary of a message: one entry per emoji, in the order each emoji was first
 * used (its earliest current reaction), its users in reaction order, at most
 * LIMITS.reactionUsersShown of them listed, `count` exact.
 */
export function summarizeReactions(reactions: readonly ReactionDoc[]): Reaction[] {
  const byEmoji = new Map<string, Reaction>();
  for (const { emoji, user } of reactions) {
    let entry = byEmoji.get(emoji);
    if (!entry) {
      entry = { emoji, count: 0, users: [] };
      byEmoji.set(emoji, entry);
    }
    entry.count += 1;
    if (entry.users.length < LIMITS.reactionUsersShown) entry.users.push(user);
  }
  return [...byEmoji.values()];
}

/**
 * Sets (`on`) or clears `user`'s reaction `emoji` in a message's stored reactions. Returns
 * the new list, or undefined when nothing changes (already set, or not set). A new distinct
 * emoji past `maxDistinct` is ChatError `conflict`.
 */
export function applyReaction(
  reactions: readonly ReactionDoc[],
  user: UserId,
  emoji: string,
  on: boolean,
  maxDistinct: number,
): ReactionDoc[] | undefined {
  const index = reactions.findIndex((r) => r.emoji === emoji && r.user === user);
  if (on) {
    if (index >= 0) return undefined;
    const distinct = new Set(reactions.map((r) => r.emoji));
    if (!distinct.has(emoji) && distinct.size >= maxDistinct) {
      throw new ChatError('conflict', `a message carries at most ${maxDistinct} different reactions`);
    }
    return [...reactions, { emoji, user }];
  }
  if (index < 0) return undefined;
  return [...reactions.slice(0, index), ...reactions.slice(index + 1)];
}

/** Checks a reaction's emoji: one emoji (`validation_failed` on /emoji). */
export function checkEmoji(emoji: string): void {
  const problem = reactionProblem(emoji);
  if (problem) {
    throw new ChatError('validation_failed', problem, { fields: [{ field: '/emoji', message: problem }] });
  }
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

/** A reply target from a caller: absent, or a whole number ≥ 1 (else `validation_failed` on /replyTo). */
export function checkReplyTo(replyTo: number | undefined): void {
  if (replyTo === undefined) return;
  if (!Number.isSafeInteger(replyTo) || replyTo < 1) {
    throw new ChatError('validation_failed', 'replyTo must be a whole number ≥ 1', {
      fields: [{ field: '/replyTo', message: 'must be a whole number ≥ 1' }],
    });
  }
}

/**
 * The seq range of an `around` page in a conversation whose messages are 1…lastSeq
 * (gapless): up to `limit` messages with `seq` in the middle — half before it, the rest
 * from it on; when one side has fewer, the other side fills the page. Undefined when the
 * page is empty.
 */
export function aroundRange(
  seq: number,
  limit: number,
  lastSeq: number,
): { from: number; to: number } | undefined {
  const n = pageLimit(limit);
  // The first seq "from it on" that can exist, then the messages available before it and from it on.
  const anchor = Math.min(Math.max(seq, 1), lastSeq + 1);
  const before = anchor - 1;
  const after = lastSeq - anchor + 1;
  let nb = Math.min(before, Math.floor(n / 2));
  const na = Math.min(after, n - nb);
  nb = Math.min(before, n - na);
  if (nb + na === 0) return undefined;
  const start = anchor - nb;
  return { from: start, to: start + nb + na - 1 };
}

/**
 * The unread mentions of one conversation from its mentioning seqs above the read marker,
 * newest first (as a `$sort: {seq: -1}` then `$firstN` gives them): the exact count and the
 * newest LIMITS.maxMentionSeqs seqs, ascending.
 */
export function mentionSummary(
  count: number,
  newestFirst: readonly number[],
): { unreadMentions: number; mentionSeqs: number[] } {
  const seqs = newestFirst.slice(0, LIMITS.maxMentionSeqs).sort((a, b) => a - b);
  return { unreadMentions: count, mentionSeqs: seqs };
}

/**
 * A reply's thread root from its parent: the parent's root, or the parent itself.
 */
export function threadRootOf(parent: Pick<MessageDoc, 'seq' | 'threadRoot'>): number {
  return parent.threadRoot ?? parent.seq;
}
