import { randomUUID } from 'node:crypto';
import { asUserId, ChatError, type TokenPair, type User, type UserId } from '@relay-chat/protocol';
import { counter, histogram } from '@relay-chat/service-kit';
import type { Logger } from 'pino';
import type { DeviceCookies } from './device-cookies.js';
import type { HashScheduler } from './hash-scheduler.js';
import type { PasswordHasher } from './passwords.js';
import type { RefreshTokens } from './refresh-tokens.js';
import type { RegistrationThrottle } from './registration-throttle.js';
import type { RevocationFeed } from './revocations.js';
import type { UserRecord, UserStore } from './store/user-store.js';
import type { LoginAttempt, LoginThrottle } from './throttle.js';
import type { AccessTokenIssuer } from './tokens.js';

export interface AccountsDeps {
  store: UserStore;
  hasher: PasswordHasher;
  /** Every hash and verification runs through it (logins first, bounded queue). */
  hashing: HashScheduler;
  throttle: LoginThrottle;
  registrationThrottle: RegistrationThrottle;
  /**
   * How long a registration refused by its bounds waits before the 429, ms: a client that
   * ignores Retry-After and loops is slowed to a few attempts a second, instead of keeping
   * a core busy parsing refusals on a small machine.
   */
  registrationRefusalDelayMs: number;
  deviceCookies: DeviceCookies;
  accessTokens: AccessTokenIssuer;
  refreshTokens: RefreshTokens;
  /** Where account deletions are announced (family revocations come from RefreshTokens). */
  revocations: RevocationFeed;
  now: () => number;
  logger: Logger;
}

const logins = counter('auth_logins_total', 'Login attempts by outcome', ['outcome']);
const registrations = counter('auth_registrations_total', 'Registrations by outcome', ['outcome']);
const hashSeconds = histogram(
  'auth_password_hash_seconds',
  'Time to hash or verify one password',
  ['op'],
  [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 4],
);

/** A successful login: the session, and the device cookie to hand the client for its next login. */
export interface LoginResult {
  pair: TokenPair;
  deviceCookie: string;
}

/**
 * What the auth routes do: registration, login, refresh, logout, account deletion. Usernames
 * arrive validated (the route schemas) and are normalised here.
 */
export class Accounts {
  constructor(private readonly deps: AccountsDeps) {}

  /**
   * Creates a user; ChatError `username_taken` when the name exists, `rate_limited` past the
   * registration bounds or when too many hashes are already waiting.
   */
  async register(input: { username: string; password: string; address: string }): Promise<User> {
    try {
      return await this.registerNow(input);
    } catch (err) {
      // Refused for its pace (the bounds, or no hashing slot soon): answer a little later.
      if (isRateLimited(err)) await sleep(this.deps.registrationRefusalDelayMs);
      throw err;
    }
  }

  private async registerNow(input: { username: string; password: string; address: string }): Promise<User> {
    const { store, hasher, hashing, throttle, registrationThrottle, now } = this.deps;
    const username = normalizeUsername(input.username);
    const attempt = await this.counted(registrations, () => registrationThrottle.begin(input.address));
    // Cheap refusal first; the insert below still settles a race between two registrations.
    // It counts as an attempt: that bounds how fast registration can probe for usernames.
    if (await store.findUserByUsername(username)) return this.taken();
    let passwordHash: string;
    try {
      passwordHash = await hashing.run('register', () =>
        timed('hash', () => hasher.hash(input.password, { signup: true })),
      );
    } catch (err) {
      if (isRateLimited(err)) {
        // Refused before any hashing: the client's retry must not count twice.
        await attempt.forget();
        registrations.inc({ outcome: 'throttled' });
      }
      throw err;
    }
    const user = { id: asUserId(randomUUID()), username, passwordHash, createdAt: now() };
    if (!(await store.createUser(user))) return this.taken();
    registrations.inc({ outcome: 'created' });
    // The address an account was created from counts as one its owner logs in from.
    await throttle.remember(username, input.address);
    return { id: user.id, username };
  }

  /**
   * Checks credentials and starts a session. An unknown user and a wrong password get the same
   * ChatError `invalid_credentials` after the same work (one hash); throttled attempts get
   * `rate_limited` before any hashing. `deviceCookie` is the one a previous login of this
   * device handed out (see DeviceCookies); a valid one for `username` spares the attempt the
   * address and account lockouts.
   */
  async login(input: {
    username: string;
    password: string;
    address: string;
    deviceCookie?: string | undefined;
  }): Promise<LoginResult> {
    const { store, hasher, hashing, deviceCookies, now } = this.deps;
    const username = normalizeUsername(input.username);
    const deviceId = deviceCookies.verify(input.deviceCookie, username, now());
    const { user, attempt } = await this.checkPassword(username, input.password, input.address, deviceId);
    await attempt.succeeded();
    logins.inc({ outcome: 'succeeded' });
    if (hasher.needsRehash(user.passwordHash)) {
      // Part of a login, so at a login's priority; skipped (the next login retries) when busy.
      const rehashed = await hashing
        .run('login', () => timed('hash', () => hasher.hash(input.password)))
        .catch((err: unknown) => {
          if (isRateLimited(err)) return undefined;
          throw err;
        });
      if (rehashed) await store.updatePasswordHash(user.id, rehashed);
    }
    const { refreshToken, familyId } = await this.deps.refreshTokens.issue(user.id);
    return {
      pair: await this.pair({ id: user.id, username: user.username }, refreshToken, familyId),
      deviceCookie: deviceCookies.issue(user.username, now()),
    };
  }

  /** Exchanges a refresh token for a new pair (see RefreshTokens.rotate). */
  async refresh(refreshToken: string): Promise<TokenPair> {
    const rotated = await this.deps.refreshTokens.rotate(refreshToken);
    const user = await this.findUser(rotated.userId);
    if (!user) throw new ChatError('invalid_refresh_token');
    return this.pair(user, rotated.refreshToken, rotated.familyId);
  }

  /** Ends the session of `refreshToken` (its whole family). Silent for unknown tokens. */
  logout(refreshToken: string): Promise<void> {
    return this.deps.refreshTokens.revoke(refreshToken);
  }

  /**
   * Deletes the account of `userId` after checking its password (throttled like a login:
   * `invalid_credentials`, `rate_limited`): the user, their refresh tokens and families go, and
   * a user-level revocation ends every access token issued so far. The username is free again.
   * ChatError `unauthorized` when the account no longer exists.
   */
  async deleteAccount(input: { userId: UserId; password: string; address: string }): Promise<void> {
    const { store, revocations, now, logger } = this.deps;
    const record = await store.findUserById(input.userId);
    if (!record) throw new ChatError('unauthorized', 'the account no longer exists');
    const { user, attempt } = await this.checkPassword(record.username, input.password, input.address);
    // Not a login: the address is not remembered, only the attempt forgotten.
    await attempt.abandon();
    const revocation = await store.deleteUser(user.id, now());
    if (revocation) revocations.publish(revocation);
    logger.info({ userId: user.id }, 'account deleted');
  }

  async findUser(id: UserId): Promise<User | undefined> {
    const record = await this.deps.store.findUserById(id);
    return record && { id: record.id, username: record.username };
  }

  /**
   * One throttled password check of `username` (normalised): the user and the attempt to finish
   * when it matched; otherwise the failure is recorded and ChatError `invalid_credentials`
   * thrown, after the same work for an unknown user as for a wrong password.
   */
  private async checkPassword(
    username: string,
    password: string,
    address: string,
    deviceId?: string,
  ): Promise<{ user: UserRecord; attempt: LoginAttempt }> {
    const { store, hasher, hashing, throttle, logger } = this.deps;
    const attempt = await this.counted(logins, () => throttle.begin(username, address, deviceId));
    const user = await store.findUserByUsername(username);
    let ok: boolean;
    try {
      ok = await hashing.run('login', () =>
        timed('verify', () =>
          user ? hasher.verify(password, user.passwordHash) : hasher.verifyDummy(password),
        ),
      );
    } catch (err) {
      if (isRateLimited(err)) {
        // Not checked, so not a failure.
        await attempt.abandon();
        logins.inc({ outcome: 'throttled' });
      }
      throw err;
    }
    if (!user || !ok) {
      await attempt.failed();
      logins.inc({ outcome: 'failed' });
      logger.info({ username, ip: address }, 'login failed');
      throw new ChatError('invalid_credentials');
    }
    return { user, attempt };
  }

  /** A pair for `user` in the session (refresh-token family) `familyId`, which the access token names as `sid`. */
  private async pair(user: User, refreshToken: string, familyId: string): Promise<TokenPair> {
    const { accessTokens } = this.deps;
    return {
      accessToken: await accessTokens.issue(user, undefined, familyId),
      refreshToken,
      expiresIn: accessTokens.ttlSec,
      user,
    };
  }

  /** Starts a throttled attempt, counting a refusal under `metric`'s `throttled` outcome. */
  private async counted<T>(metric: typeof logins, begin: () => Promise<T>): Promise<T> {
    try {
      return await begin();
    } catch (err) {
      if (isRateLimited(err)) metric.inc({ outcome: 'throttled' });
      throw err;
    }
  }

  private taken(): never {
    registrations.inc({ outcome: 'taken' });
    throw new ChatError('username_taken');
  }
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

function isRateLimited(err: unknown): boolean {
  return err instanceof ChatError && err.code === 'rate_limited';
}

/** Usernames are compared and stored in lower case. */
export function normalizeUsername(username: string): string {
  return username.toLowerCase();
}

async function timed<T>(op: 'hash' | 'verify', run: () => Promise<T>): Promise<T> {
  const end = hashSeconds.startTimer({ op });
  try {
    return await run();
  } finally {
    end();
  }
}
