import type { Message } from '@relay-chat/protocol';

/** What offering one message to a Sequencer did. */
export interface OfferResult {
  /** Messages now deliverable, in seq order: the offered one and any buffered ones it unblocked. */
  delivered: Message[];
  /** The message was delivered before or is already buffered; it was dropped. */
  duplicate: boolean;
}

export interface SequencerOptions {
  /**
   * Most out-of-order messages held while waiting for a gap to fill. Messages further ahead
   * are not held (only remembered as existing) and come from history instead. Default 10_000.
   */
  maxBuffered?: number;
}

/**
 * Exactly-once, in-order delivery for one conversation (docs/design-notes.md, the send path, step 6).
 *
 * Keeps `lastSeq`, the last seq delivered; seqs are gapless, so the next deliverable one is
 * always `lastSeq + 1`. A message at or below it is a duplicate; one further ahead is held
 * until the messages before it arrive, from the socket or from history. `latestKnown` is the
 * highest seq known to exist; while it is beyond `lastSeq` the sequencer is `behind` and the
 * owner fetches history `after=lastSeq`, offering each page here.
 *
 * An unseeded sequencer (a conversation first seen through one of its messages) holds
 * everything until `seed()` says where delivery starts. Pure: no timers, no I/O.
 */
export class Sequencer {
  #last: number | undefined;
  #latest: number;
  readonly #buffer = new Map<number, Message>();
  readonly #maxBuffered: number;

  /** @param lastSeq the last seq already delivered (0: none); omitted → unseeded. */
  constructor(lastSeq?: number, options: SequencerOptions = {}) {
    this.#maxBuffered = options.maxBuffered ?? 10_000;
    if (lastSeq !== undefined) assertSeq(lastSeq);
    this.#last = lastSeq;
    this.#latest = lastSeq ?? 0;
  }

  get seeded(): boolean {
    return this.#last !== undefined;
  }

  /** The last seq delivered; 0 while unseeded. */
  get lastSeq(): number {
    return this.#last ?? 0;
  }

  /** The highest seq known to exist (delivered, held, or announced by the server). */
  get latestKnown(): number {
    return this.#latest;
  }

  /** True when messages after `lastSeq` are known to exist but have not been delivered. */
  get behind(): boolean {
    return this.#last !== undefined && this.#latest > this.#last;
  }

  get bufferedCount(): number {
    return this.#buffer.size;
  }

  /** The lowest held seq, if any. */
  get lowestBuffered(): number | undefined {
    let lowest: number | undefined;
    for (const seq of this.#buffer.keys()) if (lowest === undefined || seq < lowest) lowest = seq;
    return lowest;
  }

  /**
   * Sets where delivery starts for an unseeded sequencer and returns what is deliverable
   * now. Held messages at or below `lastSeq` are dropped. No-op (returns []) when seeded.
   */
  seed(lastSeq: number): Message[] {
    assertSeq(lastSeq);
    if (this.#last !== undefined) return [];
    this.#last = lastSeq;
    this.#latest = Math.max(this.#latest, lastSeq);
    for (const seq of this.#buffer.keys()) if (seq <= lastSeq) this.#buffer.delete(seq);
    return this.#drain([]);
  }

  /** Records that the conversation has reached at least `seq` (ready, ack). */
  noteLatest(seq: number): void {
    if (seq > this.#latest) this.#latest = seq;
  }

  offer(message: Message): OfferResult {
    const { seq } = message;
    if (seq > this.#latest) this.#latest = seq;
    if (this.#last !== undefined && seq <= this.#last) return { delivered: [], duplicate: true };
    if (this.#buffer.has(seq)) return { delivered: [], duplicate: true };
    if (this.#last !== undefined && seq === this.#last + 1) {
      this.#last = seq;
      return { delivered: this.#drain([message]), duplicate: false };
    }
    // Held until what comes before it arrives. Far-ahead messages are left to history,
    // which bounds memory without losing anything (`latest` still records they exist).
    const horizon = this.#last === undefined ? Number.POSITIVE_INFINITY : this.#last + this.#maxBuffered;
    if (seq <= horizon && this.#buffer.size < this.#maxBuffered) this.#buffer.set(seq, message);
    return { delivered: [], duplicate: false };
  }

  /** Offers a page of history (any order); returns everything that became deliverable, in order. */
  offerAll(messages: readonly Message[]): Message[] {
    const delivered: Message[] = [];
    for (const message of messages) delivered.push(...this.offer(message).delivered);
    return delivered;
  }

  #drain(out: Message[]): Message[] {
    if (this.#last === undefined) return out;
    for (let next = this.#buffer.get(this.#last + 1); next; next = this.#buffer.get(this.#last + 1)) {
      this.#buffer.delete(next.seq);
      this.#last = next.seq;
      out.push(next);
    }
    return out;
  }
}

function assertSeq(seq: number): void {
  if (!Number.isInteger(seq) || seq < 0) throw new RangeError(`seq must be an integer >= 0, got ${seq}`);
}
