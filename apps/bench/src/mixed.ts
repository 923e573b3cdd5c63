/**
 * The `mixed` scenario's decisions: which operation each scheduled slot is (a send, an edit of
 * one of the sender's own recent messages, or a reaction toggle on a recent message), and
 * which message it targets. Pure and deterministic per (sender, slot), so it is unit-tested
 * and two runs with the same options make the same mix.
 */

/** Shares of operations (each in [0, 1], edits + reactions ≤ 1); the rest are sends. */
export interface MixShares {
  edits: number;
  reactions: number;
}

export type OperationKind = 'send' | 'edit' | 'react';

/** A reaction the mixed senders use: a few single-emoji graphemes, so a message stays under the cap. */
export const BENCH_EMOJI = ['👍', '🎉', '❤️', '😂'] as const;

/** How many of its own acknowledged messages a sender may edit, and how many recent messages it may react to. */
export const RECENT_OWN = 16;
export const RECENT_SEEN = 32;

/** Checks shares given on the command line; throws an Error naming the bad one. */
export function validateShares(shares: MixShares): MixShares {
  for (const [name, v] of Object.entries(shares)) {
    if (!Number.isFinite(v) || v < 0 || v > 1) throw new Error(`--${name} must be in [0, 1], got ${v}`);
  }
  if (shares.edits + shares.reactions > 1) {
    throw new Error(`--edits + --reactions must be ≤ 1, got ${shares.edits + shares.reactions}`);
  }
  return shares;
}

/**
 * A uniform number in [0, 1) from (sender, slot, salt): a 32-bit integer hash (splitmix-like),
 * so the mix does not depend on process, timing or Math.random.
 */
export function unitHash(sender: number, slot: number, salt = 0): number {
  let h =
    (Math.imul(sender + 1, 0x9e3779b1) ^
      Math.imul(slot + 1, 0x85ebca77) ^
      Math.imul(salt + 1, 0xc2b2ae3d)) >>>
    0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h / 2 ** 32;
}

/** The operation of a slot whose uniform draw is `u`: edits first, then reactions, then sends. */
export function pickOperation(u: number, shares: MixShares): OperationKind {
  if (u < shares.edits) return 'edit';
  if (u < shares.edits + shares.reactions) return 'react';
  return 'send';
}

/** A change to make: what the `edit` or `react` frame says. */
export type PlannedChange =
  | { kind: 'edit'; seq: number }
  | { kind: 'react'; seq: number; emoji: string; on: boolean };

/** A fixed-size ring of the most recent distinct seqs (newest last). */
export class RecentSeqs {
  private readonly seqs: number[] = [];
  constructor(private readonly capacity: number) {}

  add(seq: number): void {
    if (this.seqs.includes(seq)) return;
    this.seqs.push(seq);
    if (this.seqs.length > this.capacity) this.seqs.shift();
  }

  get size(): number {
    return this.seqs.length;
  }

  /** The element picked by a uniform draw `u` in [0, 1); undefined when empty. */
  pick(u: number): number | undefined {
    if (this.seqs.length === 0) return undefined;
    return this.seqs[Math.min(this.seqs.length - 1, Math.floor(u * this.seqs.length))];
  }

  toArray(): number[] {
    return [...this.seqs];
  }
}

/**
 * One sending connection's memory for the mixed scenario: its own acknowledged seqs (what it
 * may edit), the seqs it saw arrive (what it may react to) and the reactions it holds (so a
 * toggle always changes something: never a no-op that the server would not count).
 */
export class MixedSender {
  readonly own = new RecentSeqs(RECENT_OWN);
  readonly seen = new RecentSeqs(RECENT_SEEN);
  /** `${seq}:${emoji}` set by this user (as far as acknowledged or in flight). */
  private readonly reacted = new Set<string>();
  /** Changes in flight per seq+emoji: a second toggle waits for the first to be answered. */
  private readonly inFlight = new Set<string>();

  /**
   * What a slot of kind `kind` does, given two more uniform draws; undefined when there is
   * nothing to change yet (no acknowledged message of ours, nothing seen, or the pick is in
   * flight): the slot is then a send.
   */
  plan(kind: 'edit' | 'react', u1: number, u2: number): PlannedChange | undefined {
    if (kind === 'edit') {
      const seq = this.own.pick(u1);
      if (seq === undefined || this.inFlight.has(`${seq}:edit`)) return undefined;
      return { kind: 'edit', seq };
    }
    const seq = this.seen.pick(u1);
    if (seq === undefined) return undefined;
    const emoji = BENCH_EMOJI[Math.min(BENCH_EMOJI.length - 1, Math.floor(u2 * BENCH_EMOJI.length))]!;
    const key = `${seq}:${emoji}`;
    if (this.inFlight.has(key)) return undefined;
    return { kind: 'react', seq, emoji, on: !this.reacted.has(key) };
  }

  /** The change went out: remember it in flight (and the reaction's new state). */
  begin(change: PlannedChange): string {
    const key = change.kind === 'edit' ? `${change.seq}:edit` : `${change.seq}:${change.emoji}`;
    this.inFlight.add(key);
    if (change.kind === 'react') {
      if (change.on) this.reacted.add(key);
      else this.reacted.delete(key);
    }
    return key;
  }

  /** The change was answered (acknowledged or refused). */
  end(key: string): void {
    this.inFlight.delete(key);
  }
}

/** A change acknowledged with a changeSeq: the receivers time its `change` frames against `intendedUs`. */
export interface AckedChange {
  conv: string;
  changeSeq: number;
  /** Intended time of the change, epoch µs. */
  intendedUs: number;
  /** Bench user index of the actor (its own devices' frames are counted, not timed). */
  actor: number;
}

/**
 * Matches `change` frame arrivals with the intended times of the changes, which become known
 * only when the actor's acknowledgement has travelled (possibly from another generator
 * process): arrivals wait until their change is known, then yield a latency.
 */
export class ChangeTimer {
  private readonly known = new Map<string, AckedChange>();
  private readonly waiting = new Map<string, { user: number; arrivalUs: number }[]>();

  constructor(private readonly onLatency: (latencyUs: number, intendedUs: number) => void) {}

  /** A `change` frame arrived at a connection of bench user `user`. */
  arrived(conv: string, changeSeq: number, user: number, arrivalUs: number): void {
    const key = `${conv}:${changeSeq}`;
    const change = this.known.get(key);
    if (change) {
      if (change.actor !== user) this.onLatency(arrivalUs - change.intendedUs, change.intendedUs);
      return;
    }
    let list = this.waiting.get(key);
    if (!list) {
      list = [];
      this.waiting.set(key, list);
    }
    list.push({ user, arrivalUs });
  }

  /** A change became known: time the arrivals that waited for it. */
  learn(change: AckedChange): void {
    const key = `${change.conv}:${change.changeSeq}`;
    this.known.set(key, change);
    const list = this.waiting.get(key);
    if (!list) return;
    this.waiting.delete(key);
    for (const a of list)
      if (a.user !== change.actor) this.onLatency(a.arrivalUs - change.intendedUs, change.intendedUs);
  }

  /** Arrivals whose change never became known (changes made by others, or acknowledged too late). */
  get unmatched(): number {
    let n = 0;
    for (const list of this.waiting.values()) n += list.length;
    return n;
  }

  reset(): void {
    this.known.clear();
    this.waiting.clear();
  }
}
