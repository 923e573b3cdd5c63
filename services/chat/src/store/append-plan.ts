import { randomUUID } from 'node:crypto';
import { asMessageId, type ConversationId, type MessageId, type UserId } from '@relay-chat/protocol';
import { buildMessage, normalizeMentions } from './message-changes.js';
import type { AppendInput, AppendOutcome, AppendRefusal, AppendResult } from './message-store.js';

/** A stored message as every backend reads it back, with its client-made id. */
export type StoredMessage = AppendResult['message'];

/** One (sender, clientMsgId) pair of a batch, the key of idempotent sends. */
export interface SendKey {
  sender: UserId;
  clientMsgId: string;
}

export function sendKeyOf(sender: string, clientMsgId: string): string {
  return `${sender}\u0000${clientMsgId}`;
}

/** The distinct (sender, clientMsgId) pairs of a batch: what a backend looks up before writing. */
export function distinctSendKeys(inputs: readonly AppendInput[]): SendKey[] {
  const seen = new Map<string, SendKey>();
  for (const input of inputs) {
    const key = sendKeyOf(input.sender, input.clientMsgId);
    if (!seen.has(key)) seen.set(key, { sender: input.sender, clientMsgId: input.clientMsgId });
  }
  return [...seen.values()];
}

/** An input that may add a message: the first of its (sender, clientMsgId) in the batch, not stored yet. */
export interface Candidate {
  input: AppendInput;
  /** The id its message gets if it is stored (a random UUID). */
  id: MessageId;
  /** Its mentions as stored: each once, in the order given, without the sender. */
  mentions: UserId[];
  /**
   * For a reply, the seq of its thread's root (its parent's root, or the parent itself),
   * which the backend sets once it has found the parent.
   */
  threadRoot?: number;
}

/**
 * The semantics of `MessageStore.append`, written once for every backend. A backend:
 * 1. looks up the messages stored under `distinctSendKeys(inputs)` and builds a plan
 *    (or, optimistically, plans with none and falls back when the unique key says otherwise);
 * 2. in one transaction, decides each of `candidates`: stored (its conversation exists and
 *    its sender is a member at commit) or refused; numbers the stored ones gaplessly per
 *    conversation (`SeqAllocation`, or the same arithmetic in SQL) and writes them;
 * 3. `settle`s the plan with the seqs it assigned, which gives the outcomes in input order.
 * Duplicates — of a stored message or of an earlier input of the same batch — take no seq.
 */
export class AppendPlan {
  /** The inputs that may add a message, in input order. */
  readonly candidates: Candidate[] = [];
  private readonly candidateByKey = new Map<string, Candidate>();

  constructor(
    private readonly inputs: readonly AppendInput[],
    private readonly stored: ReadonlyMap<string, StoredMessage>,
  ) {
    for (const input of inputs) {
      const key = sendKeyOf(input.sender, input.clientMsgId);
      if (stored.has(key) || this.candidateByKey.has(key)) continue;
      const candidate: Candidate = {
        input,
        id: asMessageId(randomUUID()),
        mentions: normalizeMentions(input.sender, input.mentions),
      };
      this.candidateByKey.set(key, candidate);
      this.candidates.push(candidate);
    }
  }

  /**
   * The outcomes in input order. `seqById`: the seq given to each candidate the batch
   * stored, by message id; `unaccepted` gives the outcome of every other candidate (its
   * refusal, or a stored original that an optimistic write did not know about). `rootOf`
   * gives a stored reply's thread root after the batch (AppendResult.root).
   */
  settle(
    seqById: ReadonlyMap<string, number>,
    unaccepted: (candidate: Candidate) => AppendRefusal | StoredMessage,
    rootOf: (candidate: Candidate) => StoredMessage | undefined = () => undefined,
  ): AppendOutcome[] {
    const outcomes = new Map<Candidate, AppendOutcome>();
    for (const candidate of this.candidates) {
      const seq = seqById.get(candidate.id);
      if (seq !== undefined) {
        const root = rootOf(candidate);
        outcomes.set(
          candidate,
          root
            ? { message: messageOf(candidate, seq), duplicate: false, root }
            : { message: messageOf(candidate, seq), duplicate: false },
        );
        continue;
      }
      const other = unaccepted(candidate);
      outcomes.set(
        candidate,
        typeof other === 'string' ? { refused: other } : { message: other, duplicate: true },
      );
    }
    const returned = new Set<Candidate>();
    return this.inputs.map((input): AppendOutcome => {
      const key = sendKeyOf(input.sender, input.clientMsgId);
      const original = this.stored.get(key);
      if (original) return { message: original, duplicate: true };
      const candidate = this.candidateByKey.get(key)!;
      const outcome = outcomes.get(candidate)!;
      // The first input with this key decided; later ones in the batch repeat it.
      if (!returned.has(candidate)) {
        returned.add(candidate);
        return outcome;
      }
      return 'refused' in outcome ? outcome : { message: outcome.message, duplicate: true };
    });
  }
}

/** A new message as stored (see message-changes.ts: optional fields only when meaningful). */
export function messageOf({ input, id, mentions, threadRoot }: Candidate, seq: number): StoredMessage {
  return buildMessage(
    {
      conv: input.conv,
      seq,
      id,
      from: input.sender,
      clientMsgId: input.clientMsgId,
      body: input.body,
      ts: input.ts,
      replyTo: input.replyTo ?? null,
      threadRoot: input.replyTo === undefined ? null : (threadRoot ?? null),
    },
    mentions,
  );
}

/** How many new messages a batch adds to one conversation, and the newest of their times. */
export interface ConversationBump {
  conv: ConversationId;
  count: number;
  /** Largest `ts` of the conversation's new messages, ms. */
  maxTs: number;
}

/** A sender's members row after they appended: read marker and last sent seq move to (at least) `seq`. */
export interface SenderBump {
  conv: ConversationId;
  userId: UserId;
  seq: number;
}

/**
 * Gapless numbering of the accepted candidates, for backends that number in code (SQLite,
 * MongoDB; PostgreSQL does the same arithmetic in SQL): add `bumps[i].count` to each
 * conversation's `last_seq` (in `bumps` order, by conversation id, so that concurrent
 * batches cannot deadlock), read the new `last_seq` back, and `assign`.
 */
export class SeqAllocation {
  /** New messages per conversation, sorted by conversation id. */
  readonly bumps: ConversationBump[];
  /** Each accepted candidate's 1-based position among its conversation's new messages. */
  private readonly offsets: number[] = [];
  /** One per (conversation, sender): the offset of the sender's last new message there. */
  private readonly senders = new Map<string, { conv: ConversationId; userId: UserId; offset: number }>();

  constructor(private readonly accepted: readonly Candidate[]) {
    const byConv = new Map<ConversationId, ConversationBump>();
    for (const { input } of accepted) {
      let bump = byConv.get(input.conv);
      if (bump) {
        bump.count += 1;
        bump.maxTs = Math.max(bump.maxTs, input.ts);
      } else {
        bump = { conv: input.conv, count: 1, maxTs: input.ts };
        byConv.set(input.conv, bump);
      }
      this.offsets.push(bump.count);
      const senderKey = sendKeyOf(input.conv, input.sender);
      const sender = this.senders.get(senderKey);
      if (sender) sender.offset = bump.count;
      else this.senders.set(senderKey, { conv: input.conv, userId: input.sender, offset: bump.count });
    }
    this.bumps = [...byConv.values()].sort((a, b) => (a.conv < b.conv ? -1 : a.conv > b.conv ? 1 : 0));
  }

  /** Numbers the messages from each conversation's `last_seq` after the bump. */
  assign(lastSeqByConv: ReadonlyMap<ConversationId, number>): {
    messages: StoredMessage[];
    senders: SenderBump[];
  } {
    const base = new Map<ConversationId, number>();
    for (const bump of this.bumps) {
      const last = lastSeqByConv.get(bump.conv);
      if (last === undefined) throw new Error(`no last_seq for conversation ${bump.conv}`);
      base.set(bump.conv, last - bump.count);
    }
    const messages = this.accepted.map((candidate, i) =>
      messageOf(candidate, base.get(candidate.input.conv)! + this.offsets[i]!),
    );
    const senders = [...this.senders.values()].map((s) => ({
      conv: s.conv,
      userId: s.userId,
      seq: base.get(s.conv)! + s.offset,
    }));
    return { messages, senders };
  }
}

/** A thread root that replies of a batch answer: how many, and the newest of their times. */
export interface RootBump {
  conv: ConversationId;
  /** The root's seq. */
  seq: number;
  count: number;
  maxTs: number;
}

/**
 * The thread roots the accepted replies of a batch answer (their `threadRoot` set), by
 * conversation then seq. Each takes ONE change per batch, whatever the number of its replies
 * in it: `reply_count += count`, `last_reply_at = max(last_reply_at, maxTs)`.
 */
export function threadRoots(accepted: readonly Candidate[]): RootBump[] {
  const roots = new Map<string, RootBump>();
  for (const { input, threadRoot } of accepted) {
    if (threadRoot === undefined) continue;
    const key = rootKeyOf(input.conv, threadRoot);
    const root = roots.get(key);
    if (root) {
      root.count += 1;
      root.maxTs = Math.max(root.maxTs, input.ts);
    } else roots.set(key, { conv: input.conv, seq: threadRoot, count: 1, maxTs: input.ts });
  }
  return [...roots.values()].sort((a, b) => (a.conv < b.conv ? -1 : a.conv > b.conv ? 1 : a.seq - b.seq));
}

export function rootKeyOf(conv: string, seq: number): string {
  return `${conv}\u0000${seq}`;
}
