/**
 * The open-loop send schedule: when each message is *meant* to be sent. A message keeps its
 * intended time even when the generator sends it late, so queueing in the generator shows
 * up as latency instead of being hidden (no coordinated omission).
 *
 * `senders` senders share the total `ratePerSec`; sender `i` sends every `senders / rate`
 * seconds, offset by `i / rate` seconds, so the combined stream is evenly spaced.
 */
export interface ScheduleSpec {
  /** Total messages per second over all senders. */
  ratePerSec: number;
  /** Number of senders in the whole run (over all generator processes). */
  senders: number;
  /** Start of the schedule, epoch ms (fractional). */
  startMs: number;
  /** End of the schedule (exclusive), epoch ms. */
  endMs: number;
}

/** One scheduled message: which of this process's senders sends it and when it is due. */
export interface Due {
  /** Index into the `senderIndexes` given to SendCursor. */
  local: number;
  /** Message number of that sender (0, 1, 2 …). */
  n: number;
  /** Intended send time, epoch ms (fractional). */
  intendedMs: number;
}

/**
 * Walks the schedule of a subset of the senders (those of one generator process) in time
 * order with one cursor: all senders have the same period, so sorting them by offset once
 * makes the merged stream periodic.
 */
export class SendCursor {
  private readonly periodMs: number;
  private readonly order: { local: number; offsetMs: number }[];
  private position = 0;

  constructor(
    private readonly spec: ScheduleSpec,
    senderIndexes: readonly number[],
  ) {
    if (!(spec.ratePerSec > 0) || spec.senders < 1) throw new Error('rate and senders must be positive');
    this.periodMs = (1000 * spec.senders) / spec.ratePerSec;
    this.order = senderIndexes
      .map((global, local) => ({ local, offsetMs: (1000 * global) / spec.ratePerSec }))
      .sort((a, b) => a.offsetMs - b.offsetMs);
  }

  /** Messages due up to `nowMs` that were not yet taken, in time order; at most `limit`. */
  takeDue(nowMs: number, limit = Number.POSITIVE_INFINITY): Due[] {
    const due: Due[] = [];
    const k = this.order.length;
    if (k === 0) return due;
    while (due.length < limit) {
      const round = Math.floor(this.position / k);
      const slot = this.order[this.position % k]!;
      const intendedMs = this.spec.startMs + slot.offsetMs + round * this.periodMs;
      if (intendedMs > nowMs || intendedMs >= this.spec.endMs) break;
      due.push({ local: slot.local, n: round, intendedMs });
      this.position++;
    }
    return due;
  }

  /** When the next message is due (epoch ms), or undefined when the schedule is over. */
  nextDueMs(): number | undefined {
    const k = this.order.length;
    if (k === 0) return undefined;
    const round = Math.floor(this.position / k);
    const intendedMs = this.spec.startMs + this.order[this.position % k]!.offsetMs + round * this.periodMs;
    return intendedMs < this.spec.endMs ? intendedMs : undefined;
  }

  /** Messages the whole run schedules in `[fromMs, toMs)` (over all senders). */
  static scheduledBetween(spec: ScheduleSpec, fromMs: number, toMs: number): number {
    let n = 0;
    const periodMs = (1000 * spec.senders) / spec.ratePerSec;
    const from = Math.max(fromMs, spec.startMs);
    const to = Math.min(toMs, spec.endMs);
    if (to <= from) return 0;
    for (let i = 0; i < spec.senders; i++) {
      const offset = spec.startMs + (1000 * i) / spec.ratePerSec;
      // A message due exactly on a boundary belongs to the window it starts (floating-point noise aside).
      const first = Math.max(0, Math.ceil((from - offset) / periodMs - 1e-9));
      const last = Math.ceil((to - offset) / periodMs - 1e-9) - 1;
      if (last >= first) n += last - first + 1;
    }
    return n;
  }
}
