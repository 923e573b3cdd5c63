/** Reconnect / retry delay policy. All durations in milliseconds. */
export interface BackoffOptions {
  /** Upper bound of the first delay. Default 500. */
  baseDelayMs?: number;
  /** Cap of every delay. Default 30_000. */
  maxDelayMs?: number;
  /** Growth factor per attempt. Default 2. */
  factor?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { baseDelayMs: 500, maxDelayMs: 30_000, factor: 2 };

/**
 * The delay before retry number `attempt` (0-based): uniform in [0, min(max, base · factor^attempt)].
 *
 * Full jitter, see "Exponential Backoff And Jitter", AWS Architecture Blog (Marc Brooker, 2015),
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/ — spreading each
 * retry uniformly over the whole window keeps a crowd of clients that lost the same server
 * from reconnecting in lockstep.
 */
export function fullJitterDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const { baseDelayMs, maxDelayMs, factor } = { ...DEFAULT_BACKOFF, ...options };
  const exponent = Math.max(0, Math.floor(attempt));
  // Computed in a way that cannot overflow to Infinity for large attempts.
  const ceiling = Math.min(maxDelayMs, baseDelayMs * factor ** Math.min(exponent, 64));
  return Math.floor(random() * Math.max(0, ceiling));
}

/** A stateful full-jitter backoff: `next()` grows the window, `reset()` after a success. */
export class Backoff {
  readonly #options: Required<BackoffOptions>;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}, random: () => number = Math.random) {
    this.#options = { ...DEFAULT_BACKOFF, ...options };
    if (
      !(this.#options.baseDelayMs >= 0) ||
      !(this.#options.maxDelayMs >= 0) ||
      !(this.#options.factor >= 1)
    ) {
      throw new RangeError('backoff needs baseDelayMs >= 0, maxDelayMs >= 0 and factor >= 1');
    }
    this.#random = random;
  }

  /** How many delays were handed out since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The next delay in milliseconds; each call widens the window until maxDelayMs. */
  next(): number {
    const delay = fullJitterDelay(this.#attempt, this.#options, this.#random);
    this.#attempt += 1;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
