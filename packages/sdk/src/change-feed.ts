import { ChatError, type ConversationId, LIMITS, type Message, toChatError } from '@relay-chat/protocol';
import { type BackoffOptions, fullJitterDelay } from './backoff.js';
import { type ChangeEntry, ChangeSequencer } from './change-sequencer.js';

/** A page of `GET …/changes?after=&limit=`: changed messages in their current state, ascending changeSeq. */
export interface ChangesPage {
  messages: Message[];
  lastChangeSeq: number;
}

/** Fetches the messages of `conv` changed after `after` (GET …/changes?after=&limit=). */
export type ChangesFetcher = (conv: ConversationId, after: number, limit: number) => Promise<ChangesPage>;

/** The `change` event: each (conv, changeSeq) at most once, in changeSeq order per conversation. */
export interface ChangeEvent {
  conv: ConversationId;
  changeSeq: number;
  /** The message's whole state after the change (its `changeSeq` is this one). */
  message: Message;
}

export interface ChangeFeedOptions {
  fetchChanges: ChangesFetcher;
  /** Called once per applied change, in changeSeq order per conversation. */
  apply: (change: ChangeEvent) => void;
  /** A change arrived for a conversation with no baseline yet; it is held until `track`. */
  onUnknownConversation?: (conv: ConversationId) => void;
  /** A catch-up fetch failed (`retryInMs` when it will be retried by itself). */
  onError?: (conv: ConversationId, error: ChatError, retryInMs?: number) => void;
  /** Page size. Default and maximum LIMITS.maxChangesPage (200). */
  pageSize?: number;
  /** How long a gap seen on the socket may stay open before the changes are fetched. Default 200 ms. */
  gapWaitMs?: number;
  /** Catch-up fetches running at once across conversations. Default 4. */
  maxConcurrentFetches?: number;
  /** Delays between retries of a failed fetch (full jitter). Default base 500 ms, max 30 s. */
  retry?: BackoffOptions;
  random?: () => number;
}

interface FillState {
  phase: 'idle' | 'waiting' | 'queued' | 'running';
  timer: ReturnType<typeof setTimeout> | undefined;
  failures: number;
}

/**
 * Every conversation's changes applied exactly once and in order: one ChangeSequencer per
 * conversation and the `GET …/changes?after=` fetches that close their gaps — after
 * `gapWaitMs` for a gap seen live (replicas publish changes slightly out of order), at once
 * for one found by `track` (a `ready`). One fetch loop per conversation at a time, paging
 * from `applied` until caught up; a live change arriving meanwhile goes through the same
 * sequencer, so whichever copy comes first applies and the other is dropped.
 */
export class ChangeFeed {
  readonly #seqs = new Map<ConversationId, ChangeSequencer>();
  readonly #fills = new Map<ConversationId, FillState>();
  readonly #queue = new Set<ConversationId>();
  readonly #options: ChangeFeedOptions;
  readonly #pageSize: number;
  readonly #gapWaitMs: number;
  readonly #maxConcurrent: number;
  #active = 0;
  #closed = false;
  #generation = 0;

  constructor(options: ChangeFeedOptions) {
    this.#options = options;
    this.#pageSize = Math.min(Math.max(1, options.pageSize ?? LIMITS.maxChangesPage), LIMITS.maxChangesPage);
    this.#gapWaitMs = Math.max(0, options.gapWaitMs ?? 200);
    this.#maxConcurrent = Math.max(1, options.maxConcurrentFetches ?? 4);
  }

  /** The last changeSeq applied for `conv`; undefined when it has no baseline. */
  applied(conv: ConversationId): number | undefined {
    const s = this.#seqs.get(conv);
    return s?.seeded ? s.applied : undefined;
  }

  isSeeded(conv: ConversationId): boolean {
    return this.#seqs.get(conv)?.seeded ?? false;
  }

  /**
   * The conversation's change counter is at `lastChangeSeq` (from `ready`, a conversation
   * frame or page). A conversation first seen takes it as its baseline (what it holds so far
   * is current wherever it is read); a known one fetches what it has not applied — at once,
   * or after the gap wait (`wait: true`, for news that usually arrives on the socket too).
   */
  track(conv: ConversationId, lastChangeSeq: number, options: { wait?: boolean } = {}): void {
    const existing = this.#seqs.get(conv);
    if (!existing) {
      this.#seqs.set(conv, new ChangeSequencer(lastChangeSeq));
      return;
    }
    if (!existing.seeded) {
      for (const entry of existing.seed(lastChangeSeq)) this.#apply(conv, entry);
    }
    existing.noteLatest(lastChangeSeq);
    this.#schedule(conv, options.wait ? this.#gapWaitMs : 0);
  }

  /** Every tracked conversation (with a baseline or not). */
  conversations(): ConversationId[] {
    return [...this.#seqs.keys()];
  }

  /**
   * The counter of a conversation already tracked reached at least `changeSeq` (a
   * `change_ack`, a member event): fetches what is missing after the gap wait unless it
   * arrives meanwhile. Ignored for a conversation with no baseline.
   */
  noteLatest(conv: ConversationId, changeSeq: number): void {
    const s = this.#seqs.get(conv);
    if (!s?.seeded) return;
    s.noteLatest(changeSeq);
    this.#schedule(conv, this.#gapWaitMs);
  }

  /** A change from the socket. */
  receive(change: ChangeEvent): void {
    if (this.#closed) return;
    const { conv, changeSeq, message } = change;
    let s = this.#seqs.get(conv);
    if (!s) {
      s = new ChangeSequencer();
      this.#seqs.set(conv, s);
    }
    for (const entry of s.offer({ changeSeq, message })) this.#apply(conv, entry);
    if (!s.seeded) this.#options.onUnknownConversation?.(conv);
    else if (s.behind) this.#schedule(conv, this.#gapWaitMs);
  }

  /** Stops tracking `conv` (left, or unknown after all); a fetch in flight is discarded. */
  forget(conv: ConversationId): void {
    this.#seqs.delete(conv);
    this.#queue.delete(conv);
    const fill = this.#fills.get(conv);
    if (fill) clearTimeout(fill.timer);
    this.#fills.delete(conv);
  }

  /** Restarts fetching after `close` (positions are kept; the next `track` catches up). */
  reopen(): void {
    this.#closed = false;
  }

  /** Stops every fetch and timer; a fetch in flight is discarded. */
  close(): void {
    this.#closed = true;
    this.#generation += 1;
    for (const fill of this.#fills.values()) clearTimeout(fill.timer);
    this.#fills.clear();
    this.#queue.clear();
  }

  #apply(conv: ConversationId, entry: ChangeEntry): void {
    this.#options.apply({ conv, changeSeq: entry.changeSeq, message: entry.message });
  }

  #fillOf(conv: ConversationId): FillState {
    let fill = this.#fills.get(conv);
    if (!fill) {
      fill = { phase: 'idle', timer: undefined, failures: 0 };
      this.#fills.set(conv, fill);
    }
    return fill;
  }

  #schedule(conv: ConversationId, waitMs: number): void {
    if (this.#closed || !this.#seqs.get(conv)?.behind) return;
    const fill = this.#fillOf(conv);
    if (fill.phase === 'running' || fill.phase === 'queued') return;
    if (waitMs > 0) {
      if (fill.phase === 'idle') {
        fill.phase = 'waiting';
        fill.timer = setTimeout(() => this.#enqueue(conv, fill), waitMs);
      }
      return;
    }
    clearTimeout(fill.timer);
    this.#enqueue(conv, fill);
  }

  #enqueue(conv: ConversationId, fill: FillState): void {
    fill.timer = undefined;
    if (this.#closed || this.#fills.get(conv) !== fill) return;
    if (this.#active < this.#maxConcurrent) {
      void this.#run(conv, fill);
    } else {
      fill.phase = 'queued';
      this.#queue.add(conv);
    }
  }

  async #run(conv: ConversationId, fill: FillState): Promise<void> {
    const s = this.#seqs.get(conv);
    if (!s?.behind) {
      fill.phase = 'idle';
      return;
    }
    fill.phase = 'running';
    this.#active += 1;
    const generation = this.#generation;
    const current = () => !this.#closed && generation === this.#generation && this.#seqs.get(conv) === s;
    try {
      while (current() && s.behind) {
        const after = s.applied;
        const page = await this.#options.fetchChanges(conv, after, this.#pageSize);
        if (!current()) return;
        const fresh = page.messages.filter((m) => m.conv === conv);
        // A full page may be followed by more; a short one covers everything up to its end.
        for (const entry of s.offerPage(after, fresh, page.lastChangeSeq)) this.#apply(conv, entry);
        if (s.applied === after && s.behind) {
          // The store does not show them yet (a lagging read): retry later rather than spin.
          throw new ChatError('unavailable', `no changes after ${after} yet`);
        }
      }
      fill.failures = 0;
    } catch (err) {
      if (!current()) return;
      const error = toChatError(err);
      if (!error.retryable) {
        this.#options.onError?.(conv, error);
        return;
      }
      const retryInMs = fullJitterDelay(fill.failures, this.#options.retry, this.#options.random);
      fill.failures += 1;
      this.#options.onError?.(conv, error, retryInMs);
      fill.phase = 'waiting';
      fill.timer = setTimeout(() => this.#enqueue(conv, fill), retryInMs);
    } finally {
      this.#active -= 1;
      if (fill.phase === 'running') fill.phase = 'idle';
      this.#pump();
    }
  }

  #pump(): void {
    while (this.#active < this.#maxConcurrent && this.#queue.size > 0) {
      const conv = this.#queue.values().next().value as ConversationId;
      this.#queue.delete(conv);
      const fill = this.#fills.get(conv);
      if (fill) void this.#run(conv, fill);
    }
  }
}
