import { LIMITS, type Message, type UserId } from '@relay-chat/protocol';

/**
 * The caller's unread mentions in one conversation, kept live between server snapshots by
 * the server's rule: a message counts when it mentions the caller, is from someone else,
 * is not deleted and its seq is above the read marker.
 *
 * Every seq the client knows of is held (`seqs`); the server lists only the newest
 * LIMITS.maxMentionSeqs, so older ones it counted (`unlisted`) are known only by number,
 * all below the lowest seq it listed: they leave when the read marker passes that seq, and
 * are otherwise corrected by the next snapshot. Pure.
 */
export class MentionTracker {
  readonly #seqs = new Set<number>();
  #unlisted = 0;
  /** Every unlisted seq is below this one. */
  #unlistedBelow = 0;

  /** From a server snapshot (ready, a conversation answer). */
  static from(unreadMentions = 0, mentionSeqs: readonly number[] = [], lastReadSeq = 0): MentionTracker {
    const tracker = new MentionTracker();
    for (const seq of mentionSeqs) if (seq > lastReadSeq) tracker.#seqs.add(seq);
    tracker.#unlisted = Math.max(0, unreadMentions - mentionSeqs.length);
    tracker.#unlistedBelow = mentionSeqs.length > 0 ? Math.min(...mentionSeqs) : Number.POSITIVE_INFINITY;
    tracker.read(lastReadSeq);
    return tracker;
  }

  get count(): number {
    return this.#seqs.size + this.#unlisted;
  }

  /** The newest LIMITS.maxMentionSeqs seqs, ascending. */
  get seqs(): number[] {
    return [...this.#seqs].sort((a, b) => a - b).slice(-LIMITS.maxMentionSeqs);
  }

  /** The read marker moved to `lastReadSeq`: what it passed is read. True when the count changed. */
  read(lastReadSeq: number): boolean {
    const before = this.count;
    for (const seq of this.#seqs) if (seq <= lastReadSeq) this.#seqs.delete(seq);
    if (this.#unlisted > 0 && lastReadSeq >= this.#unlistedBelow - 1) this.#unlisted = 0;
    return this.count !== before;
  }

  /**
   * A message in its newest known state (delivered, or changed): counted or not by the
   * rule. Idempotent: the same state twice changes nothing. True when the count changed.
   */
  apply(message: Message, me: UserId | undefined, lastReadSeq: number): boolean {
    const counts =
      me !== undefined &&
      message.from !== me &&
      message.deleted !== true &&
      message.seq > lastReadSeq &&
      (message.mentions?.includes(me) ?? false);
    if (counts === this.#seqs.has(message.seq)) return false;
    // Below the listed ones the server may have counted it already, unlisted.
    if (counts && this.#unlisted > 0 && message.seq < this.#unlistedBelow) return false;
    if (counts) this.#seqs.add(message.seq);
    else this.#seqs.delete(message.seq);
    return true;
  }
}
