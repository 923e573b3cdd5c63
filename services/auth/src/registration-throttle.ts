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
  constructor(
    private readonly store: UserStore,
    private readonly options: RegistrationThrottleOptions,
  ) {}

  async begin(address: string): Promise<RegistrationAttempt> {
    const now = this.options.now();
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
      const retryAfterMs = blocking + REGISTRATION_WINDOW_MS - now;
      throw new ChatError('rate_limited', 'too many registrations; try again later', {
        retryAfterSec: Math.max(1, Math.ceil(retryAfterMs / 1000)),
      });
    }
    return { forget: () => this.store.forgetRegistrationAttempt(attemptId) };
  }
}
