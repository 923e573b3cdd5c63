import { randomUUID } from 'node:crypto';
import { ChatError } from '@relay-chat/protocol';
import type { UserStore } from './store/user-store.js';

/** Registration-throttling policy: attempts admitted within a sliding hour. */
export interface RegistrationThrottleOptions {
  /** Attempts admitted per client address per hour. */
  maxPerAddressPerHour: number;
  /** Attempts admitted over all addresses per hour. */
  maxPerHour: number;
  /** Clock, ms since the epoch. */
  now: () => number;
}

/** The sliding window of both bounds, ms. */
export const REGISTRATION_WINDOW_MS = 3600_000;

/** One admitted registration: `forget()` it when it turned out to cost nothing (refused before hashing). */
export interface RegistrationAttempt {
  forget(): Promise<void>;
}

/**
 * Bounds registrations — each costs one 128 MiB scrypt — per address and overall, with the
 * counts in the database so every replica sees them. An attempt is recorded *before* it is
 * checked, so a burst of concurrent registrations cannot slip past the count; one refused here
 * is removed again, so a client that keeps retrying is let in as soon as the window allows.
 * Past a bound: ChatError `rate_limited` with `retryAfterSec` (until the blocking attempt
 * leaves the window).
 */
export class RegistrationThrottle {
  /**
   * Addresses (and '*' for the overall bound) this replica found over their bound, until
   * when: a client that keeps trying is refused from memory, without the two database writes
   * each counted attempt costs — a flood of refused sign-ups must not load the database.
   */
  private readonly blockedUntil = new Map<string, number>();

  constructor(
    private readonly store: UserStore,
    private readonly options: RegistrationThrottleOptions,
  ) {}

  async begin(address: string): Promise<RegistrationAttempt> {
    const now = this.options.now();
    const until = Math.max(this.blockedUntil.get(address) ?? 0, this.blockedUntil.get(ALL) ?? 0);
    if (until > now) throw refusal(until - now);
    const attemptId = randomUUID();
    await this.store.recordRegistrationAttempt(attemptId, address, now);
    const since = now - REGISTRATION_WINDOW_MS;
    // This attempt is the newest row: it may go on when at most `max` rows, itself included,
    // are in the window; otherwise the (max+1)-th newest must leave it first.
    const [perAddress, overall] = await Promise.all([
      this.store.nthRecentRegistrationAttempt({ address, since, n: this.options.maxPerAddressPerHour + 1 }),
      this.store.nthRecentRegistrationAttempt({ since, n: this.options.maxPerHour + 1 }),
    ]);
    const blocking = Math.max(perAddress ?? -Infinity, overall ?? -Infinity);
    if (blocking !== -Infinity) {
      await this.store.forgetRegistrationAttempt(attemptId);
      const until = blocking + REGISTRATION_WINDOW_MS;
      this.block(overall !== undefined && overall >= (perAddress ?? -Infinity) ? ALL : address, until, now);
      throw refusal(until - now);
    }
    return { forget: () => this.store.forgetRegistrationAttempt(attemptId) };
  }

  private block(key: string, until: number, now: number): void {
    this.blockedUntil.set(key, until);
    if (this.blockedUntil.size <= MAX_BLOCKED) return;
    for (const [k, at] of this.blockedUntil) if (at <= now) this.blockedUntil.delete(k);
    // Still full of live entries: the oldest go (they are refused by the database again).
    while (this.blockedUntil.size > MAX_BLOCKED)
      this.blockedUntil.delete(this.blockedUntil.keys().next().value!);
  }
}

/** The key of the overall bound in `blockedUntil`. */
const ALL = '*';
/** Most addresses remembered as blocked. */
const MAX_BLOCKED = 10_000;

function refusal(retryAfterMs: number): ChatError {
  return new ChatError('rate_limited', 'too many registrations; try again later', {
    retryAfterSec: Math.max(1, Math.ceil(retryAfterMs / 1000)),
  });
}
