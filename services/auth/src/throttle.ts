import { randomUUID } from 'node:crypto';
import { ChatError } from '@relay-chat/protocol';
import type { UserStore } from './store/user-store.js';

/** Login-throttling policy. Counts are failures within the sliding window. */
export interface LoginThrottleOptions {
  /** Sliding window, ms. Default 15 minutes. */
  windowMs?: number;
  /** Failures allowed per (account, address) pair. Default 5. */
  maxPerAccountAddress?: number;
  /**
   * Failures allowed per account, summed over all addresses, before the account is throttled
   * for addresses it has not logged in from recently. Default 5.
   */
  maxPerAccount?: number;
  /** Failures allowed per address over all accounts (credential stuffing). Default 50. */
  maxPerAddress?: number;
  /**
   * Failures allowed per device cookie; past it the cookie is treated as untrusted (its
   * logins face the other bounds) until its failures leave the window. Default 5.
   */
  maxPerDevice?: number;
  /** How long a successful login makes an address "known" for its account, ms. Default 90 days. */
  knownAddressTtlMs?: number;
  /** Clock, ms since the epoch. Default Date.now. */
  now?: () => number;
}

const DEFAULTS = {
  windowMs: 15 * 60_000,
  maxPerAccountAddress: 5,
  maxPerAccount: 5,
  maxPerAddress: 50,
  maxPerDevice: 5,
  knownAddressTtlMs: 90 * 24 * 3600_000,
};

/** One login attempt in flight: finish it with `succeeded()`, `failed()` or `abandon()`. */
export interface LoginAttempt {
  succeeded(): Promise<void>;
  failed(): Promise<void>;
  /** The password was never checked (the server was too busy): the attempt does not count. */
  abandon(): Promise<void>;
}

/**
 * Throttles failed logins, with all state in the database so every replica sees the same counts.
 *
 * Three sliding-window bounds (defaults for a 15-minute window):
 * - 5 failures per (account, address): one address guessing one account;
 * - 5 failures per account from addresses that have not logged into it in the last 90 days:
 *   guessing spread over many addresses. Addresses the account has logged in from are exempt,
 *   so an attacker elsewhere cannot lock the owner out of their own address;
 * - 50 failures per address over all accounts (credential stuffing).
 * A login presenting a valid device cookie for its account (see DeviceCookies) is from a device
 * the owner logged in from before: it faces only its own bound, 5 failures per device cookie,
 * and none of the three above — so an attacker who exhausts an address (a shared NAT) or an
 * account locks out neither the owner nor anyone else who logged in there before. Past its
 * bound the cookie counts for nothing and the attempt is an ordinary (untrusted) one.
 *
 * Refused attempts are not counted, so a lock ends one window after the failures stop. Each
 * attempt is recorded as a failure *before* the password is checked and removed on success, so
 * a burst of concurrent guesses cannot slip past the count while the hashes run. Unknown and
 * known usernames are counted alike (no enumeration through 429s).
 */
export class LoginThrottle {
  private readonly options: Required<Omit<LoginThrottleOptions, 'now'>>;
  private readonly now: () => number;

  constructor(
    private readonly store: UserStore,
    options: LoginThrottleOptions = {},
  ) {
    const { now, ...rest } = options;
    this.options = { ...DEFAULTS, ...stripUndefined(rest) };
    this.now = now ?? Date.now;
  }

  get windowMs(): number {
    return this.options.windowMs;
  }

  /**
   * Starts an attempt by `username` (normalised) from `address`, from the device `deviceId` when
   * the login presented a valid device cookie for `username`; throws ChatError `rate_limited`
   * with `retryAfterSec` when a bound is reached.
   */
  async begin(username: string, address: string, deviceId?: string): Promise<LoginAttempt> {
    const now = this.now();
    if (deviceId !== undefined) {
      const trusted = await this.beginTrusted(username, address, deviceId, now);
      if (trusted) return trusted;
    }
    const keys = keysOf(username, address);
    const lastKnown = await this.store.lastLoginFromAddress(username, address);
    const known = lastKnown !== undefined && lastKnown > now - this.options.knownAddressTtlMs;
    const bounds: [string, number][] = [
      [keys.pair, this.options.maxPerAccountAddress],
      [keys.address, this.options.maxPerAddress],
    ];
    if (!known) bounds.push([keys.account, this.options.maxPerAccount]);

    const attemptId = randomUUID();
    await this.store.recordLoginFailure(attemptId, [keys.pair, keys.account, keys.address], now);
    const retryAfterMs = await this.retryAfterMs(bounds, now);
    if (retryAfterMs > 0) {
      await this.store.forgetLoginFailure(attemptId);
      throw new ChatError('rate_limited', 'too many failed logins; try again later', {
        retryAfterSec: Math.max(1, Math.ceil(retryAfterMs / 1000)),
      });
    }
    return {
      succeeded: async () => {
        await this.store.forgetLoginFailure(attemptId);
        await this.store.clearLoginFailures(keys.pair);
        await this.store.rememberLoginAddress(username, address, this.now());
      },
      // The failure is already recorded.
      failed: async () => {},
      abandon: () => this.store.forgetLoginFailure(attemptId),
    };
  }

  /** An attempt from a trusted device, or undefined when the device is past its own bound. */
  private async beginTrusted(
    username: string,
    address: string,
    deviceId: string,
    now: number,
  ): Promise<LoginAttempt | undefined> {
    const key = `device:${deviceId}`;
    const attemptId = randomUUID();
    await this.store.recordLoginFailure(attemptId, [key], now);
    if ((await this.retryAfterMs([[key, this.options.maxPerDevice]], now)) > 0) {
      await this.store.forgetLoginFailure(attemptId);
      return undefined;
    }
    return {
      succeeded: async () => {
        await this.store.clearLoginFailures(key);
        await this.store.rememberLoginAddress(username, address, this.now());
      },
      failed: async () => {},
      abandon: () => this.store.forgetLoginFailure(attemptId),
    };
  }

  /** Marks `address` as known for `username` (registration from there). */
  async remember(username: string, address: string): Promise<void> {
    await this.store.rememberLoginAddress(username, address, this.now());
  }

  /** Longest wait over the bounds this attempt (already recorded) exceeds; 0 when within all. */
  private async retryAfterMs(bounds: [string, number][], now: number): Promise<number> {
    const since = now - this.options.windowMs;
    const waits = await Promise.all(
      bounds.map(async ([key, max]) => {
        // This attempt is the newest row; it may go on when at most `max` rows, itself included,
        // are in the window. Otherwise the (max+1)-th newest must leave the window first.
        const blocking = await this.store.nthRecentLoginFailure(key, since, max + 1);
        return blocking === undefined ? 0 : blocking + this.options.windowMs - now;
      }),
    );
    return Math.max(0, ...waits);
  }
}

function keysOf(username: string, address: string) {
  return {
    pair: `pair:${username}|${address}`,
    account: `account:${username}`,
    address: `address:${address}`,
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
