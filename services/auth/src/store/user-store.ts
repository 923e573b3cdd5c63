import type { User, UserId } from '@relay-chat/protocol';
import type { Revocation } from '../revocations.js';

/** A user as stored. Times are milliseconds since the epoch. */
export interface UserRecord {
  id: UserId;
  /** Normalised: lower case, 3..32 of [a-z0-9_.-]. */
  username: string;
  /** Self-describing password hash (see passwords.ts). */
  passwordHash: string;
  createdAt: number;
}

/** A refresh token as stored: only its SHA-256, never the token. Times in ms since the epoch. */
export interface RefreshTokenRecord {
  tokenHash: string;
  /** Every token rotated from one login shares a family; reuse of a spent one revokes it. */
  familyId: string;
  userId: UserId;
  createdAt: number;
  expiresAt: number;
  /** When it was exchanged for a successor; null while unused. */
  spentAt: number | null;
  /** When its family was revoked (logout, reuse detected); null while live. */
  familyRevokedAt: number | null;
}

export type NewRefreshToken = Omit<RefreshTokenRecord, 'spentAt' | 'familyRevokedAt'>;

/**
 * Where the auth service keeps users, refresh tokens and login-throttling state. Declared
 * here, beside its consumer; `kysely.ts` implements it for SQLite and PostgreSQL, and both
 * pass the one contract suite in `contract.ts`.
 *
 * Every method is safe under concurrent calls from several replicas sharing one database:
 * `createUser` and `spendRefreshToken` are single atomic statements.
 */
export interface UserStore {
  /** Creates or upgrades the schema; called once at start. */
  migrate(): Promise<void>;
  /** Throws when the database is unreachable (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;

  // --- users ---------------------------------------------------------------------------

  /** Inserts a user; false (and nothing stored) when the username is taken. */
  createUser(user: UserRecord): Promise<boolean>;
  findUserByUsername(username: string): Promise<UserRecord | undefined>;
  findUserById(id: UserId): Promise<UserRecord | undefined>;
  /** The users among `ids` that exist, ordered by username; unknown ids are left out. */
  findUsersByIds(ids: readonly UserId[]): Promise<User[]>;
  /**
   * Users whose username starts with `prefix` (already lower case, only [a-z0-9_.-]), ordered
   * by username, after the username `after` when given, at most `limit`.
   */
  searchUsers(query: { prefix: string; after?: string | undefined; limit: number }): Promise<User[]>;
  updatePasswordHash(id: UserId, passwordHash: string): Promise<void>;
  /**
   * Deletes a user with their refresh tokens, families and known login addresses, and records
   * a user-level revocation at `now`, in one transaction; undefined (nothing done) for an
   * unknown id. The username is free again afterwards.
   */
  deleteUser(id: UserId, now: number): Promise<Revocation | undefined>;

  // --- refresh tokens ------------------------------------------------------------------

  /** Starts a family (at login) with its first token. */
  createRefreshFamily(first: NewRefreshToken): Promise<void>;
  /** Adds a token to an existing family (rotation). */
  addRefreshToken(token: NewRefreshToken): Promise<void>;
  /**
   * Atomically marks the token spent at `now` if it is unspent, unexpired and its family is not
   * revoked, and returns it; undefined otherwise (of two concurrent calls, one wins).
   */
  spendRefreshToken(tokenHash: string, now: number): Promise<RefreshTokenRecord | undefined>;
  findRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Revokes a family: none of its tokens, present or later added, is accepted again. Records
   * the revocation (`sid` = the family id) in the same transaction and returns it; undefined
   * when the family is unknown or was already revoked (the first revocation stands).
   */
  revokeRefreshFamily(familyId: string, now: number): Promise<Revocation | undefined>;

  // --- revocations ----------------------------------------------------------------------

  /**
   * Revocations with id > `after`, ascending, at most `limit`. Ids become visible in ascending
   * order (a revocation never commits with an id below one already visible).
   */
  revocationsAfter(after: number, limit: number): Promise<Revocation[]>;

  // --- login throttling ----------------------------------------------------------------

  /**
   * Records login attempt `attemptId` at `at` under each of `keys`, counted as a failure until
   * `forgetLoginFailure` removes it (the attempt succeeded or was refused unchecked).
   */
  recordLoginFailure(attemptId: string, keys: readonly string[], at: number): Promise<void>;
  forgetLoginFailure(attemptId: string): Promise<void>;
  /**
   * The time of the `n`-th most recent failure under `key` later than `since`, or undefined
   * when there are fewer than `n` (n ≥ 1).
   */
  nthRecentLoginFailure(key: string, since: number, n: number): Promise<number | undefined>;
  /** Removes every failure under `key`. */
  clearLoginFailures(key: string): Promise<void>;
  /** Notes a successful login of `username` from `address` at `at`. */
  rememberLoginAddress(username: string, address: string, at: number): Promise<void>;
  /** When `username` last logged in successfully from `address`, if ever. */
  lastLoginFromAddress(username: string, address: string): Promise<number | undefined>;

  // --- registration throttling ----------------------------------------------------------

  /** Records registration attempt `attemptId` from `address` at `at` (counted until forgotten). */
  recordRegistrationAttempt(attemptId: string, address: string, at: number): Promise<void>;
  forgetRegistrationAttempt(attemptId: string): Promise<void>;
  /**
   * The time of the `n`-th most recent registration attempt later than `since` — from `address`
   * when given, else from anywhere — or undefined when there are fewer than `n` (n ≥ 1).
   */
  nthRecentRegistrationAttempt(query: {
    address?: string | undefined;
    since: number;
    n: number;
  }): Promise<number | undefined>;

  // --- housekeeping --------------------------------------------------------------------

  /**
   * Deletes refresh tokens expired by `now` (and families left empty), login failures older than
   * `failuresBefore`, login addresses not seen since `addressesBefore`, and registration attempts
   * older than `registrationsBefore`, and revocations older than `revocationsBefore`.
   */
  prune(input: {
    now: number;
    failuresBefore: number;
    addressesBefore: number;
    registrationsBefore: number;
    revocationsBefore: number;
  }): Promise<void>;
}
