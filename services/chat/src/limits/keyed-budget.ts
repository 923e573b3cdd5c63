import { ChatError } from '@relay-chat/protocol';
import type { Budget } from './budget.js';
import { TokenBucket } from './token-bucket.js';

export interface KeyedBudgetOptions {
  /** Sustained actions per second per key. */
  ratePerSec: number;
  /** Actions at once per key. */
  burst: number;
  /** What the refusal says, e.g. "sending too fast". */
  what: string;
  /** Clock, ms. Default Date.now. */
  now?: () => number;
}

/**
 * A token bucket per key (a user, an address) that outlives connections: a user who
 * reconnects finds the budget where they left it. A bucket is forgotten only once it has
 * refilled completely — forgetting it then changes nothing — so memory stays bounded by
 * the keys that acted within the last burst/rate seconds.
 */
export class KeyedBudget<K extends string> implements Budget<K> {
  private readonly buckets = new Map<K, TokenBucket>();
  private readonly now: () => number;
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly options: KeyedBudgetOptions) {
    this.now = options.now ?? Date.now;
    const refillMs = Math.ceil((options.burst / options.ratePerSec) * 1000);
    this.sweep = setInterval(() => this.forgetFull(), Math.max(1000, refillMs));
    this.sweep.unref();
  }

  /** Takes one action's token for `key`; throws ChatError `rate_limited` (with Retry-After) when empty. */
  take(key: K): void {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.options.ratePerSec, this.options.burst, this.now);
      this.buckets.set(key, bucket);
    }
    if (bucket.take()) return;
    const retryAfterSec = bucket.retryAfterSec();
    throw new ChatError(
      'rate_limited',
      `${this.options.what}; retry in ${Math.ceil(retryAfterSec * 1000)} ms`,
      { retryAfterSec },
    );
  }

  /** How many keys have a bucket now (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  stop(): void {
    clearInterval(this.sweep);
  }

  private forgetFull(): void {
    for (const [key, bucket] of this.buckets) if (bucket.isFull()) this.buckets.delete(key);
  }
}
