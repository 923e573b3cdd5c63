import type { ConversationId, UserId } from '@relay-chat/protocol';
import type { AppendInput, AppendRefusal, StoredMessage } from './message-store.js';
import { type MessageDoc, normalizeMentions, threadRootOf } from './mongo-messages.js';

/**
 * The pure part of the MongoDB store's append for replies and mentions (protocol v1.2):
 * which documents a batch must read, how each input is judged, the documents it writes and
 * the changeSeqs its replies take. `mongo.ts` does the reads and writes in the batch's
 * transaction; these rules are unit-tested (`mongo-append.test.ts`) since no MongoDB server
 * runs on the build machines.
 */

/** A message by position: conversation and seq. */
export interface SeqRef {
  conv: ConversationId;
  seq: number;
}

/** What an accepted input stores besides its text: its thread root (a reply) and mentions. */
export interface AppendVerdict {
  /** The thread root of a reply; absent for a message that answers none. */
  threadRoot?: number;
  /** Normalised: each once, in the order given, without the sender. */
  mentions: UserId[];
}

/**
 * The parents a batch must look up: each `replyTo` that names a seq stored before the batch
 * (at most the conversation's `lastSeq` in the transaction's snapshot), once. A `replyTo`
 * past it names nothing stored, or a message of the same batch: `bad_reply` without a read.
 */
export function parentLookups(
  inputs: readonly AppendInput[],
  lastSeqBefore: ReadonlyMap<ConversationId, number>,
): SeqRef[] {
  const refs = new Map<string, SeqRef>();
  for (const { conv, replyTo } of inputs) {
    if (replyTo !== undefined && replyTo <= (lastSeqBefore.get(conv) ?? 0)) {
      refs.set(refKey(conv, replyTo), { conv, seq: replyTo });
    }
  }
  return [...refs.values()];
}

/** The users a batch must find among the members, per conversation (normalised mentions). */
export function mentionLookups(inputs: readonly AppendInput[]): Map<ConversationId, UserId[]> {
  const wanted = new Map<ConversationId, Set<UserId>>();
  for (const input of inputs) {
    const mentions = normalizeMentions(input.sender, input.mentions);
    if (mentions.length === 0) continue;
    const users = wanted.get(input.conv) ?? new Set<UserId>();
    wanted.set(input.conv, users);
    for (const user of mentions) users.add(user);
  }
  return new Map([...wanted].map(([conv, users]) => [conv, [...users]]));
}

/**
 * Judges one input whose sender is a member: `bad_reply` when `replyTo` names no message
 * stored before the batch (`parents`: those found by `parentLookups`), else `bad_mentions`
 * when a mentioned user is not a member (`members`: keys of `memberKey`), else what it stores.
 */
export function judgeAppend(
  input: AppendInput,
  lastSeqBefore: number,
  parents: ReadonlyMap<string, Pick<MessageDoc, 'seq' | 'threadRoot'>>,
  members: ReadonlySet<string>,
): AppendVerdict | AppendRefusal {
  const verdict: AppendVerdict = { mentions: normalizeMentions(input.sender, input.mentions) };
  if (input.replyTo !== undefined) {
    const parent =
      input.replyTo <= lastSeqBefore ? parents.get(refKey(input.conv, input.replyTo)) : undefined;
    if (!parent) return 'bad_reply';
    verdict.threadRoot = threadRootOf(parent);
  }
  if (!verdict.mentions.every((user) => members.has(memberKey(input.conv, user)))) return 'bad_mentions';
  return verdict;
}

/** The key of a message by position, for the `parents` map of judgeAppend. */
export function refKey(conv: ConversationId, seq: number): string {
  return `${conv}\u0000${seq}`;
}

/** The key of a membership, for the `members` set of judgeAppend. */
export function memberKey(conv: ConversationId, userId: UserId): string {
  return `${conv}\u0000${userId}`;
}

/** The document of a new message (numbered by the batch) with its reply and mentions; optional fields only when set. */
export function newMessageDoc(
  message: StoredMessage,
  input: AppendInput,
  verdict: AppendVerdict,
): MessageDoc {
  const doc: MessageDoc = {
    _id: message.id,
    conv: message.conv,
    seq: message.seq,
    sender: message.from,
    clientMsgId: message.clientMsgId,
    body: message.body,
    ts: message.ts,
  };
  if (verdict.threadRoot !== undefined && input.replyTo !== undefined) {
    doc.replyTo = input.replyTo;
    doc.threadRoot = verdict.threadRoot;
  }
  if (verdict.mentions.length > 0) doc.mentions = [...verdict.mentions];
  return doc;
}

/** How many replies of a batch each conversation has: its change counter rises by that much. */
export function repliesPerConversation(docs: readonly MessageDoc[]): Map<ConversationId, number> {
  const counts = new Map<ConversationId, number>();
  for (const doc of docs) {
    if (doc.threadRoot !== undefined) counts.set(doc.conv, (counts.get(doc.conv) ?? 0) + 1);
  }
  return counts;
}

/** One reply's change of its root: the root, and the changeSeq, reply time it takes. */
export interface RootChange {
  /** The reply's message id. */
  reply: string;
  root: SeqRef;
  changeSeq: number;
  lastReplyAt: number;
}

/**
 * The root changes of a batch's new messages (`docs`, in seq order per conversation): each
 * reply, in that order, takes the next changeSeq of its conversation, whose counter is
 * `lastChangeSeqAfter` once raised by `repliesPerConversation` (so the first reply takes
 * the counter's old value + 1 and the last takes the new value).
 */
export function rootChanges(
  docs: readonly MessageDoc[],
  lastChangeSeqAfter: ReadonlyMap<ConversationId, number>,
): RootChange[] {
  const replies = repliesPerConversation(docs);
  const next = new Map<ConversationId, number>();
  for (const [conv, count] of replies) {
    const after = lastChangeSeqAfter.get(conv);
    if (after === undefined) throw new Error(`no change counter for conversation ${conv}`);
    next.set(conv, after - count + 1);
  }
  const changes: RootChange[] = [];
  for (const doc of docs) {
    if (doc.threadRoot === undefined) continue;
    const changeSeq = next.get(doc.conv)!;
    next.set(doc.conv, changeSeq + 1);
    changes.push({
      reply: doc._id,
      root: { conv: doc.conv, seq: doc.threadRoot },
      changeSeq,
      lastReplyAt: doc.ts,
    });
  }
  return changes;
}
