import type { Message } from '@relay-chat/protocol';
import { newerCopy } from './changes.js';

/**
 * The loaded part of one conversation's history: messages in ascending `seq`, no duplicates.
 * `hasOlder` is false once the page holding seq 1 has been loaded.
 */
export interface HistoryWindow {
  messages: Message[];
  hasOlder: boolean;
}

export const EMPTY_HISTORY: HistoryWindow = { messages: [], hasOlder: true };

/**
 * Merges messages into an ascending, duplicate-free list keyed by `seq`. The live stream,
 * pages of history and gap fills all arrive here in any order; of two copies of one seq the
 * one with the higher `changeSeq` is kept (messages change: edits, deletes, reactions,
 * replies), so merging is idempotent and order-independent.
 */
export function mergeBySeq(existing: readonly Message[], incoming: readonly Message[]): Message[] {
  if (incoming.length === 0) return existing as Message[];
  const last = existing.at(-1);
  // Fast path for the common live case: one newer message appended at the end.
  if (incoming.length === 1 && (last === undefined || incoming[0]!.seq > last.seq)) {
    return [...existing, incoming[0]!];
  }
  const bySeq = new Map<number, Message>();
  for (const message of existing) bySeq.set(message.seq, message);
  let changed = false;
  for (const message of incoming) {
    const known = bySeq.get(message.seq);
    const winner = known ? newerCopy(known, message) : message;
    if (winner !== known) {
      bySeq.set(message.seq, winner);
      changed = true;
    }
  }
  if (!changed) return existing as Message[];
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** Adds a page of older history; a page shorter than asked for, or reaching seq 1, ends the history. */
export function addOlderPage(window: HistoryWindow, page: readonly Message[], limit: number): HistoryWindow {
  const messages = mergeBySeq(window.messages, page);
  const reachedStart = page.length < limit || messages[0]?.seq === 1 || messages.length === 0;
  return { messages, hasOlder: !reachedStart };
}

/** Adds live or newer messages; never changes whether older history remains. */
export function addNewer(window: HistoryWindow, incoming: readonly Message[]): HistoryWindow {
  const messages = mergeBySeq(window.messages, incoming);
  return messages === window.messages ? window : { ...window, messages };
}

/** The seq to ask older history `before`, or undefined when nothing is loaded. */
export function oldestSeq(window: HistoryWindow): number | undefined {
  return window.messages[0]?.seq;
}

/**
 * The ranges of seqs missing between loaded messages (a live message arrived past a gap
 * before the gap was filled), as inclusive `[from, to]` pairs.
 */
export function gapsIn(messages: readonly Message[]): Array<[number, number]> {
  const gaps: Array<[number, number]> = [];
  for (let i = 1; i < messages.length; i += 1) {
    const prev = messages[i - 1]!.seq;
    const next = messages[i]!.seq;
    if (next > prev + 1) gaps.push([prev + 1, next - 1]);
  }
  return gaps;
}
