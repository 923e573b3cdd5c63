import type { Message } from '@relay-chat/protocol';

/** One change: the conversation's change counter after it and the changed message's whole state. */
export interface ChangeEntry {
  changeSeq: number;
  message: Message;
}

/**
 * In-order, at-most-once application of one conversation's changes (edits, deletes,
 * reactions, reply counts; docs/design-notes.md "Messages that change").
 *
 * Keeps `applied`, the last changeSeq applied. A live change whose changeSeq is
 * `applied + 1` applies at once (with any held ones it unblocks); one at or below `applied`
 * is a duplicate; one further ahead is held until the gap closes, live or from
 * `GET …/changes?after=applied`. A page of that route is authoritative for its range: it
 * holds every message whose current changeSeq is in (after, highest returned], each once in
 * its current state, so `applied` may jump over changeSeqs that a later change of the same
 * message superseded.
 *
 * An unseeded sequencer (a conversation not known yet) holds everything until `seed()`
 * gives its baseline. Pure: no timers, no I/O.
 */
export class ChangeSequencer {
  #applied: number | undefined;
  #latest: number;
  readonly #held = new Map<number, ChangeEntry>();
  readonly #maxHeld: number;

  /** @param applied the last changeSeq already reflected (omitted → unseeded). */
  constructor(applied?: number, options: { maxHeld?: number } = {}) {
    this.#maxHeld = options.maxHeld ?? 10_000;
    if (applied !== undefined) assertChangeSeq(applied);
    this.#applied = applied;
    this.#latest = applied ?? 0;
  }

  get seeded(): boolean {
    return this.#applied !== undefined;
  }

  /** The last changeSeq applied; 0 while unseeded. */
  get applied(): number {
    return this.#applied ?? 0;
  }

  /** The highest changeSeq known to exist (applied, held, or announced by `ready`). */
  get latestKnown(): number {
    return this.#latest;
  }

  /** True when changes after `applied` are known to exist but were not applied. */
  get behind(): boolean {
    return this.#applied !== undefined && this.#latest > this.#applied;
  }

  get heldCount(): number {
    return this.#held.size;
  }

  /** Sets the baseline of an unseeded sequencer; returns what applies now. No-op ([]) when seeded. */
  seed(applied: number): ChangeEntry[] {
    assertChangeSeq(applied);
    if (this.#applied !== undefined) return [];
    this.#applied = applied;
    this.#latest = Math.max(this.#latest, applied);
    return this.#drain([]);
  }

  /** Records that the conversation's change counter reached at least `changeSeq` (ready, change_ack). */
  noteLatest(changeSeq: number): void {
    if (changeSeq > this.#latest) this.#latest = changeSeq;
  }

  /** A live change (a `change` frame). Returns the changes that apply now, in order; [] for a duplicate or a held one. */
  offer(entry: ChangeEntry): ChangeEntry[] {
    const { changeSeq } = entry;
    if (changeSeq > this.#latest) this.#latest = changeSeq;
    if (this.#applied !== undefined && changeSeq <= this.#applied) return [];
    if (this.#held.has(changeSeq)) return [];
    if (this.#applied !== undefined && changeSeq === this.#applied + 1) {
      this.#applied = changeSeq;
      return this.#drain([entry]);
    }
    // Far-ahead changes beyond the bound are left to the catch-up fetch (latest records them).
    if (this.#held.size < this.#maxHeld) this.#held.set(changeSeq, entry);
    return [];
  }

  /**
   * A page of `GET …/changes?after=after` (ascending changeSeq). Requires `after` ≤ applied
   * at the time the page was asked for (the owner pages from `applied`). Returns what
   * applies, in order; messages at or below `applied` are dropped.
   */
  offerPage(after: number, messages: readonly Message[], lastChangeSeq?: number): ChangeEntry[] {
    if (this.#applied === undefined || after > this.#applied) return [];
    if (lastChangeSeq !== undefined) this.noteLatest(lastChangeSeq);
    const sorted = messages
      .filter((m) => Number.isInteger(m.changeSeq) && (m.changeSeq as number) > 0)
      .sort((a, b) => (a.changeSeq as number) - (b.changeSeq as number));
    const out: ChangeEntry[] = [];
    for (const message of sorted) {
      const changeSeq = message.changeSeq as number;
      if (changeSeq > this.#latest) this.#latest = changeSeq;
      if (changeSeq <= this.#applied) continue;
      this.#applied = changeSeq;
      out.push({ changeSeq, message });
    }
    return this.#drain(out);
  }

  /** Drops held changes at or below `applied`, then applies those that follow it without a gap. */
  #drain(out: ChangeEntry[]): ChangeEntry[] {
    if (this.#applied === undefined) return out;
    for (const changeSeq of this.#held.keys()) if (changeSeq <= this.#applied) this.#held.delete(changeSeq);
    for (let next = this.#held.get(this.#applied + 1); next; next = this.#held.get(this.#applied + 1)) {
      this.#held.delete(next.changeSeq);
      this.#applied = next.changeSeq;
      out.push(next);
    }
    return out;
  }
}

function assertChangeSeq(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`changeSeq must be an integer >= 0, got ${n}`);
}
