import { randomUUID } from 'node:crypto';
import type { ConversationId, UserId } from '@relay-chat/protocol';
import type { AppendInput, AppendResult } from './message-store.js';

/** A stored message as every backend reads it back, with its client-made id. */
export type StoredMessage = AppendResult['message'];

/** One (sender, clientMsgId) pair of a batch, the key of idempotent sends. */
export interface SendKey {
  sender: UserId;
  clientMsgId: string;
}

/** How many new messages a batch adds to one conversation, and the newest of their times. */
export interface ConversationBump {
  conv: ConversationId;
  count: number;
  /** Largest `ts` of the conversation's new messages, ms. */
  maxTs: number;
}

/** A sender's read marker moving to (at least) `seq` because they appended it. */
export interface ReadMarkerBump {
  conv: ConversationId;
  userId: UserId;
  seq: number;
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

/**
 * The semantics of `MessageStore.append`, written once for every backend. A backend:
 * 1. looks up the messages stored under `distinctSendKeys(inputs)` and builds a plan;
 * 2. adds `bumps[i].count` to each conversation's `last_seq` (in conversation-id order, so
 *    concurrent batches lock rows in one order) and reads back the new `last_seq`;
 * 3. inserts `assign(...)`'s messages and applies its read-marker bumps, in the same transaction.
 * Duplicates — of a stored message or of an earlier input of the same batch — take no seq.
 */
export class AppendPlan {
  /** New messages per conversation, sorted by conversation id. */
  readonly bumps: ConversationBump[];
  private readonly fresh: AppendInput[] = [];

  constructor(
    private readonly inputs: readonly AppendInput[],
    private readonly stored: ReadonlyMap<string, StoredMessage>,
  ) {
    const firstSeen = new Set<string>();
    const byConv = new Map<ConversationId, ConversationBump>();
    for (const input of inputs) {
      const key = sendKeyOf(input.sender, input.clientMsgId);
      if (stored.has(key) || firstSeen.has(key)) continue;
      firstSeen.add(key);
      this.fresh.push(input);
      const bump = byConv.get(input.conv);
      if (bump) {
        bump.count += 1;
        bump.maxTs = Math.max(bump.maxTs, input.ts);
      } else {
        byConv.set(input.conv, { conv: input.conv, count: 1, maxTs: input.ts });
      }
    }
    this.bumps = [...byConv.values()].sort((a, b) => (a.conv < b.conv ? -1 : a.conv > b.conv ? 1 : 0));
  }

  /** Whether the batch writes anything at all. */
  get writes(): boolean {
    return this.fresh.length > 0;
  }

  /**
   * Numbers the new messages from each conversation's new `last_seq` (after the bump) and
   * builds the results in input order.
   */
  assign(lastSeqByConv: ReadonlyMap<ConversationId, number>): {
    messages: StoredMessage[];
    readMarkers: ReadMarkerBump[];
    results: AppendResult[];
  } {
    const nextSeq = new Map<ConversationId, number>();
    for (const bump of this.bumps) {
      const last = lastSeqByConv.get(bump.conv);
      if (last === undefined) throw new Error(`no last_seq for conversation ${bump.conv}`);
      nextSeq.set(bump.conv, last - bump.count + 1);
    }
    const created = new Map<string, StoredMessage>();
    const messages: StoredMessage[] = [];
    const markers = new Map<string, ReadMarkerBump>();
    for (const input of this.fresh) {
      const seq = nextSeq.get(input.conv)!;
      nextSeq.set(input.conv, seq + 1);
      const message: StoredMessage = {
        conv: input.conv,
        seq,
        id: randomUUID(),
        from: input.sender,
        body: input.body,
        ts: input.ts,
        clientMsgId: input.clientMsgId,
      };
      messages.push(message);
      created.set(sendKeyOf(input.sender, input.clientMsgId), message);
      const markerKey = sendKeyOf(input.conv, input.sender);
      const marker = markers.get(markerKey);
      if (marker) marker.seq = Math.max(marker.seq, seq);
      else markers.set(markerKey, { conv: input.conv, userId: input.sender, seq });
    }
    const returned = new Set<string>();
    const results = this.inputs.map((input): AppendResult => {
      const key = sendKeyOf(input.sender, input.clientMsgId);
      const original = this.stored.get(key);
      if (original) return { message: original, duplicate: true };
      // The first input with this key created the message; later ones in the batch repeat it.
      const duplicate = returned.has(key);
      returned.add(key);
      return { message: created.get(key)!, duplicate };
    });
    return { messages, readMarkers: [...markers.values()], results };
  }
}
