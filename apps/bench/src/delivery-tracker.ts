import { IntervalSet, type Range } from './interval-set.js';

/** What one arrival was, judged against the receiver's earlier arrivals in that conversation. */
export type Arrival = 'new' | 'duplicate' | 'out_of_order';

/**
 * One receiver's view of one conversation: which `seq`s arrived, how many arrived twice, and
 * how many arrived after a higher `seq` had already arrived (out of order on the wire).
 */
export class ConversationLog {
  readonly received = new IntervalSet();
  duplicates = 0;
  outOfOrder = 0;
  private highest = 0;

  offer(seq: number): Arrival {
    if (seq > this.highest) {
      this.highest = seq;
      this.received.add(seq);
      return 'new';
    }
    if (!this.received.add(seq)) {
      this.duplicates++;
      return 'duplicate';
    }
    this.outOfOrder++;
    return 'out_of_order';
  }

  /** Records seqs recovered another way (history after a reconnect): never duplicates or disorder. */
  recover(seq: number): boolean {
    if (seq > this.highest) this.highest = seq;
    return this.received.add(seq);
  }

  get highestSeq(): number {
    return this.highest;
  }

  report(conv: string): ReceiverReport {
    return {
      conv,
      received: this.received.toJSON(),
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
    };
  }
}

/** One receiver's log of one conversation, as a generator process reports it. */
export interface ReceiverReport {
  conv: string;
  received: Range[];
  duplicates: number;
  outOfOrder: number;
}

/** Totals over every receiver of a run. */
export interface DeliveryAccount {
  /** Acknowledged messages (over all conversations). */
  acked: number;
  /** Deliveries expected: each acknowledged message to each receiver of its conversation. */
  expected: number;
  /** Acknowledged messages a receiver never got, summed over receivers. */
  lost: number;
  /** Messages a receiver got more than once, summed over receivers. */
  duplicated: number;
  /** Messages that arrived after a higher seq of the same conversation, summed over receivers. */
  outOfOrder: number;
  /** Receivers that lost at least one message. */
  receiversWithLoss: number;
}

/**
 * Checks every receiver against what the senders got acknowledged: a message acked with seq
 * `s` in conversation `c` must have reached every receiver of `c`.
 */
export function accountDeliveries(
  acked: ReadonlyMap<string, IntervalSet>,
  receivers: readonly ReceiverReport[],
): DeliveryAccount {
  let ackedTotal = 0;
  for (const set of acked.values()) ackedTotal += set.size;
  const account: DeliveryAccount = {
    acked: ackedTotal,
    expected: 0,
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
    receiversWithLoss: 0,
  };
  for (const receiver of receivers) {
    account.duplicated += receiver.duplicates;
    account.outOfOrder += receiver.outOfOrder;
    const expected = acked.get(receiver.conv);
    if (!expected) continue;
    account.expected += expected.size;
    const lost = expected.countMissingFrom(new IntervalSet(receiver.received));
    account.lost += lost;
    if (lost > 0) account.receiversWithLoss++;
  }
  return account;
}

/** Merges acked ranges reported by several generator processes, per conversation. */
export function mergeAcked(reports: readonly Record<string, Range[]>[]): Map<string, IntervalSet> {
  const merged = new Map<string, IntervalSet>();
  for (const report of reports) {
    for (const [conv, ranges] of Object.entries(report)) {
      let set = merged.get(conv);
      if (!set) {
        set = new IntervalSet();
        merged.set(conv, set);
      }
      for (const [first, last] of ranges) set.addRange(first, last);
    }
  }
  return merged;
}
