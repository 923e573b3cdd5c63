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

/** A new message of the batch: its id, and its 1-based position among its conversation's new messages. */
export interface PlannedMessage {
  input: AppendInput;
  id: string;
  offset: number;
}

/** A sender's read marker moving to (at least) their `offset`-th new message of the conversation. */
export interface PlannedReadMarker {
  conv: ConversationId;
  userId: UserId;
  offset: number;
}

/**
 * The semantics of `MessageStore.append`, written once for every backend. A backend:
 * 1. looks up the messages stored under `distinctSendKeys(inputs)` and builds a plan
 *    (or, optimistically, plans with none and falls back when the unique key says otherwise);
 * 2. adds `bumps[i].count` to each conversation's `last_seq` (locking conversations in id
 *    order, so concurrent batches cannot deadlock) and reads back the new `last_seq`;
 * 3. in the same transaction, inserts `fresh` with seq = new last_seq − count + offset and
 *    moves `readMarkers` likewise; `assign` does that arithmetic and builds the results.
 * Duplicates — of a stored message or of an earlier input of the same batch — take no seq.
 */
export class AppendPlan {
  /** New messages per conversation, sorted by conversation id. */
  readonly bumps: ConversationBump[];
  /** New messages in input order. */
  readonly fresh: PlannedMessage[] = [];
  /** One per (conversation, sender) of the new messages: the sender's last one. */
  readonly readMarkers: PlannedReadMarker[];

  constructor(
    private readonly inputs: readonly AppendInput[],
    private readonly stored: ReadonlyMap<string, StoredMessage>,
  ) {
    const firstSeen = new Set<string>();
    const byConv = new Map<ConversationId, ConversationBump>();
    const markers = new Map<string, PlannedReadMarker>();
    for (const input of inputs) {
      const key = sendKeyOf(input.sender, input.clientMsgId);
      if (stored.has(key) || firstSeen.has(key)) continue;
      firstSeen.add(key);
      let bump = byConv.get(input.conv);
      if (bump) {
        bump.count += 1;
        bump.maxTs = Math.max(bump.maxTs, input.ts);
      } else {
        bump = { conv: input.conv, count: 1, maxTs: input.ts };
        byConv.set(input.conv, bump);
      }
      this.fresh.push({ input, id: randomUUID(), offset: bump.count });
      const markerKey = sendKeyOf(input.conv, input.sender);
      const marker = markers.get(markerKey);
      if (marker) marker.offset = bump.count;
      else markers.set(markerKey, { conv: input.conv, userId: input.sender, offset: bump.count });
    }
    this.bumps = [...byConv.values()].sort((a, b) => (a.conv < b.conv ? -1 : a.conv > b.conv ? 1 : 0));
    this.readMarkers = [...markers.values()];
  }

  /** Whether the batch writes anything at all. */
  get writes(): boolean {
    return this.fresh.length > 0;
  }

  /** Numbers the new messages from each conversation's `last_seq` after the bump; results in input order. */
  assign(lastSeqByConv: ReadonlyMap<ConversationId, number>): {
    messages: StoredMessage[];
    readMarkers: ReadMarkerBump[];
    results: AppendResult[];
  } {
    const base = new Map<ConversationId, number>();
    for (const bump of this.bumps) {
      const last = lastSeqByConv.get(bump.conv);
      if (last === undefined) throw new Error(`no last_seq for conversation ${bump.conv}`);
      base.set(bump.conv, last - bump.count);
    }
    const created = new Map<string, StoredMessage>();
    const messages = this.fresh.map(({ input, id, offset }): StoredMessage => {
      const message: StoredMessage = {
        conv: input.conv,
        seq: base.get(input.conv)! + offset,
        id,
        from: input.sender,
        body: input.body,
        ts: input.ts,
        clientMsgId: input.clientMsgId,
      };
      created.set(sendKeyOf(input.sender, input.clientMsgId), message);
      return message;
    });
    const readMarkers = this.readMarkers.map((m) => ({
      conv: m.conv,
      userId: m.userId,
      seq: base.get(m.conv)! + m.offset,
    }));
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
    return { messages, readMarkers, results };
  }
}
