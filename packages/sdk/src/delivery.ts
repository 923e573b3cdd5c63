import { ChatError, type ConversationId, LIMITS, type Message, toChatError } from '@relay-chat/protocol';
import { type BackoffOptions, fullJitterDelay } from './backoff.js';
import { Sequencer } from './sequencer.js';

/** Progress of filling one conversation's gap from history (the `gap` event). */
export type GapEvent =
  | { conv: ConversationId; status: 'fetching'; from: number; to: number }
  | { conv: ConversationId; status: 'filled'; lastSeq: number }
  /** `retryInMs` is set when the fetch will be retried by itself. */
  | { conv: ConversationId; status: 'failed'; error: ChatError; retryInMs?: number };

/** Fetches up to `limit` messages of `conv` with seq > `afterSeq`, ascending (GET …/messages?after=&limit=). */
export type HistoryFetcher = (conv: ConversationId, afterSeq: number, limit: number) => Promise<Message[]>;

export interface DeliveryOptions {
  fetchAfter: HistoryFetcher;
  /** Called once per (conv, seq), in seq order per conversation. */
  deliver: (message: Message) => void;
  onGap?: (event: GapEvent) => void;
  /** A message arrived for a conversation that is not seeded; its messages are held until `seed`. Called per such message. */
  onUnknownConversation?: (conv: ConversationId) => void;
  /** History page size. Default and maximum: LIMITS.maxHistoryPage (200). */
  pageSize?: number;
  /**
   * How long a gap noticed on the socket may stay open before history is asked, in ms:
   * messages published by different gateway replicas can arrive slightly out of order, and
   * the missing one usually follows within milliseconds. Default 250. Gaps found at
   * (re)connect are fetched at once.
   */
  gapWaitMs?: number;
  /** Out-of-order messages held per conversation. Default 10_000. */
  maxBufferedPerConversation?: number;
  /** History fetches running at once across conversations. Default 4. */
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
 * Exactly-once, in-order delivery across conversations: one Sequencer per conversation, and
 * the history fetches that close their gaps — one loop per conversation at a time, paging
 * `after=lastSeq` until caught up. A message arriving on the socket while its conversation is
 * being fetched goes through the same Sequencer, so whichever copy comes first is delivered
 * and the other is dropped.
 */
export class Delivery {
  readonly #seqs = new Map<ConversationId, Sequencer>();
  readonly #fills = new Map<ConversationId, FillState>();
  readonly #queue = new Set<ConversationId>();
  readonly #options: DeliveryOptions;
  readonly #pageSize: number;
  readonly #gapWaitMs: number;
  readonly #maxConcurrent: number;
  #active = 0;
  #closed = false;
  /** Bumped by close(): loops started before it stop at their next step. */
  #generation = 0;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#pageSize = Math.min(Math.max(1, options.pageSize ?? LIMITS.maxHistoryPage), LIMITS.maxHistoryPage);
    this.#gapWaitMs = Math.max(0, options.gapWaitMs ?? 250);
    this.#maxConcurrent = Math.max(1, options.maxConcurrentFetches ?? 4);
  }

  has(conv: ConversationId): boolean {
    return this.#seqs.has(conv);
  }

  isSeeded(conv: ConversationId): boolean {
    return this.#seqs.get(conv)?.seeded ?? false;
  }

  /** The last seq delivered for `conv`; undefined when not seeded. */
  lastSeq(conv: ConversationId): number | undefined {
    const s = this.#seqs.get(conv);
    return s?.seeded ? s.lastSeq : undefined;
  }

  /** The lowest seq held for an unseeded conversation. */
  lowestHeld(conv: ConversationId): number | undefined {
    return this.#seqs.get(conv)?.lowestBuffered;
  }

  /** Every tracked conversation (seeded or not). */
  conversations(): ConversationId[] {
    return [...this.#seqs.keys()];
  }

  /** lastSeq of every seeded conversation: what to pass as `resumeFrom` to resume later. */
  snapshot(): Record<ConversationId, number> {
    const out: Record<ConversationId, number> = {};
    for (const [conv, s] of this.#seqs) if (s.seeded) out[conv] = s.lastSeq;
    return out;
  }

  /**
   * Starts delivering `conv` after `lastSeq`: tracks it, or seeds it when it was held unseeded
   * (delivering what that unblocks). No-op for a conversation already seeded.
   */
  seed(conv: ConversationId, lastSeq: number): void {
    const existing = this.#seqs.get(conv);
    if (existing?.seeded) return;
    if (existing) {
      for (const message of existing.seed(lastSeq)) this.#options.deliver(message);
    } else {
      this.#seqs.set(conv, this.#newSequencer(lastSeq));
    }
    this.#schedule(conv, 0);
  }

  /**
   * Records that `conv` has reached `seq` (a ready frame, an ack) and fetches what is missing,
   * at once or after the gap wait (`wait: true`, for news that usually arrives on the socket).
   */
  noteLatest(conv: ConversationId, seq: number, options: { wait?: boolean } = {}): void {
    const s = this.#seqs.get(conv);
    if (!s) return;
    s.noteLatest(seq);
    this.#schedule(conv, options.wait ? this.#gapWaitMs : 0);
  }

  /** A message from the socket. */
  receive(message: Message): void {
    if (this.#closed) return;
    let s = this.#seqs.get(message.conv);
    if (!s) {
      s = this.#newSequencer(undefined);
      this.#seqs.set(message.conv, s);
    }
    for (const delivered of s.offer(message).delivered) this.#options.deliver(delivered);
    if (!s.seeded) this.#options.onUnknownConversation?.(message.conv);
    else if (s.behind) this.#schedule(message.conv, this.#gapWaitMs);
  }

  /** Stops tracking `conv` (left, or unknown after all); a fetch in flight is discarded. */
  forget(conv: ConversationId): void {
    this.#seqs.delete(conv);
    this.#queue.delete(conv);
    const fill = this.#fills.get(conv);
    if (fill) clearTimeout(fill.timer);
    this.#fills.delete(conv);
  }

  /** Restarts fetching after `close` (positions are kept; call `noteLatest` to catch up). */
  reopen(): void {
    this.#closed = false;
  }

  /** Stops all fetching and timers; a fetch in flight is discarded. */
  close(): void {
    this.#closed = true;
    this.#generation += 1;
    for (const fill of this.#fills.values()) clearTimeout(fill.timer);
    this.#fills.clear();
    this.#queue.clear();
  }

  #newSequencer(lastSeq: number | undefined): Sequencer {
    const { maxBufferedPerConversation } = this.#options;
    return new Sequencer(
      lastSeq,
      maxBufferedPerConversation === undefined ? {} : { maxBuffered: maxBufferedPerConversation },
    );
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
    // A running loop re-checks `behind` before it stops; a queued one will run anyway.
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
      this.#options.onGap?.({ conv, status: 'fetching', from: s.lastSeq + 1, to: s.latestKnown });
      while (current() && s.behind) {
        const after = s.lastSeq;
        const page = await this.#options.fetchAfter(conv, after, this.#pageSize);
        if (!current()) return;
        const fresh = page.filter((m) => m.conv === conv && Number.isInteger(m.seq));
        for (const message of s.offerAll(fresh)) this.#options.deliver(message);
        if (s.lastSeq === after && s.behind) {
          // The store does not have them yet (a lagging read): retry later rather than spin.
          throw new ChatError('unavailable', `no history after seq ${after} yet`);
        }
      }
      fill.failures = 0;
      if (current()) this.#options.onGap?.({ conv, status: 'filled', lastSeq: s.lastSeq });
    } catch (err) {
      if (!current()) return;
      const error = toChatError(err);
      if (!error.retryable) {
        this.#options.onGap?.({ conv, status: 'failed', error });
        return;
      }
      const retryInMs = fullJitterDelay(fill.failures, this.#options.retry, this.#options.random);
      fill.failures += 1;
      this.#options.onGap?.({ conv, status: 'failed', error, retryInMs });
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
