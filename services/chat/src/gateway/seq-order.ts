import { counter } from '@relay-chat/service-kit';

/** Messages held back for a missing seq, and holds that ended with the wait, not the seq. */
const held = counter('chat_reorder_held_total', 'Live messages held back until a missing seq arrived');
const gaveUp = counter(
  'chat_reorder_gave_up_total',
  'Holds released because the wait ran out (a seq never arrived live) or too many were held',
);

/**
 * Puts one conversation's live messages back in seq order on a receiving replica.
 *
 * Two replicas that store messages of one conversation publish them on two bus
 * connections, so seq 6 can arrive before seq 5. A message ahead of the next expected
 * seq is held until the missing ones arrive, for at most `holdMs`: a seq that never
 * arrives (its replica died between commit and publish) only delays the ones behind it
 * by that much, and the clients fetch it from the store when they see the gap. A seq at
 * or behind the expected one (a retry's re-publish, or one older than the state the
 * sessions were set up from) is passed on at once: clients drop seqs they have.
 */
export class SeqOrder {
  private next: number | undefined;
  private top = 0;
  private readonly held = new Map<number, Buffer>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deliver: (frame: Buffer) => void,
    private readonly holdMs: number,
    /** Most messages held at once; past it everything held is released. */
    private readonly maxHeld = 1024,
  ) {}

  /** Sets the next expected seq from stored state, unless live messages already did. */
  expect(nextSeq: number): void {
    this.next ??= nextSeq;
  }

  /** The highest seq that reached this replica live (0 before the first). */
  get highest(): number {
    return this.top;
  }

  /** How many messages are waiting for a missing seq. */
  get holding(): number {
    return this.held.size;
  }

  push(seq: number, frame: Buffer): void {
    if (seq > this.top) this.top = seq;
    if (this.next === undefined || seq === this.next) {
      this.deliver(frame);
      this.next = seq + 1;
      this.releaseInOrder();
      return;
    }
    if (seq < this.next || this.holdMs <= 0) {
      this.deliver(frame);
      if (seq >= this.next) this.next = seq + 1;
      return;
    }
    this.held.set(seq, frame);
    held.inc();
    if (this.held.size > this.maxHeld) this.releaseAll();
    else this.timer ??= setTimeout(() => this.releaseAll(), this.holdMs);
  }

  /** Stops the timer; what is held is dropped (the conversation has no local session left). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.held.clear();
  }

  /** Delivers the held messages that are now next in line. */
  private releaseInOrder(): void {
    if (this.held.size === 0) return;
    let frame = this.held.get(this.next!);
    while (frame !== undefined) {
      this.held.delete(this.next!);
      this.deliver(frame);
      this.next! += 1;
      frame = this.held.get(this.next!);
    }
    if (this.held.size === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** The wait is over: everything held goes out in seq order, skipping the gaps. */
  private releaseAll(): void {
    gaveUp.inc();
    clearTimeout(this.timer);
    this.timer = undefined;
    const seqs = [...this.held.keys()].sort((a, b) => a - b);
    for (const seq of seqs) {
      this.deliver(this.held.get(seq)!);
      this.next = seq + 1;
    }
    this.held.clear();
  }
}
