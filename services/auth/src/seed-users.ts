import { randomBytes, randomUUID } from 'node:crypto';
import { asUserId, ChatError, LIMITS, USERNAME_PATTERN, type UserId } from '@relay-chat/protocol';
import { createLogger, inParallel, type Logger } from '@relay-chat/service-kit';
import { normalizeUsername } from './accounts.js';
import { loadAuthConfig } from './config.js';
import { PasswordHasher } from './passwords.js';
import { RefreshTokens } from './refresh-tokens.js';
import { openUserStore } from './store/kysely.js';
import type { UserStore } from './store/user-store.js';

export interface SeedUsersOptions {
  /** The auth service's database (its DATABASE_URL): `postgres://…` or `sqlite:…`. Migrated if needed. */
  databaseUrl: string;
  /** How many users to create, ≥ 1. */
  count: number;
  /**
   * Start of every username; each gets 8 random hex digits after it. Lower-cased; with the
   * suffix it must fit the username rules (3..32 of [a-z0-9_.-]), so at most 24 characters.
   */
  usernamePrefix: string;
  /**
   * Life of the issued refresh tokens, seconds: should be the service's REFRESH_TOKEN_TTL_SEC.
   * Default the service's default (30 days).
   */
  refreshTokenTtlSec?: number;
  /** Users written per batch (and reported to `onBatch`). Default 500. */
  batchSize?: number;
  /** Database writes in flight (and PostgreSQL connections). Default 16. */
  concurrency?: number;
  /**
   * Gets each batch (with the shared password) once it is stored, so a caller keeps what was
   * done if a later batch fails.
   */
  onBatch?: (batch: SeededUsers) => void;
  /** Clock, ms since the epoch. Default Date.now. */
  now?: () => number;
  /** For the refresh-token code (it logs nothing when only issuing). Default silent. */
  logger?: Logger;
}

/** A seeded user with the first token of its refresh family. */
export interface SeededUser {
  id: UserId;
  /** As stored: lower case. */
  username: string;
  refreshToken: string;
  /** When `refreshToken` was issued, ms since the epoch. */
  issuedAt: number;
}

export interface SeededUsers {
  /** The password every seeded user shares (random, 16 bytes in base64url). */
  password: string;
  users: SeededUser[];
}

/** Length of the random username suffix, hex digits. */
const SUFFIX_CHARS = 8;
// A taken name (someone else's, or a suffix collision) is retried with another suffix.
const MAX_NAME_ATTEMPTS = 5;

/**
 * Creates `count` users directly in the auth database, for load tests: what registering and
 * logging in each one would store, without paying a password hash per user.
 *
 * It goes through the service's own code — its store and migrations, its PasswordHasher at the
 * production (OWASP) cost, its RefreshTokens — so the rows are exactly what /register and
 * /login write. The shortcut is only that every seeded user shares ONE random password and so
 * ONE real hash (one scrypt computation for the whole batch): logging in as any of them still
 * runs the real verification, and each gets its own refresh-token family, so the caller starts
 * sessions at /refresh.
 *
 * Needs direct access to the database: meant for deployments the caller runs itself (the bench's
 * spawned targets), never as a route.
 */
export async function seedUsers(options: SeedUsersOptions): Promise<SeededUsers> {
  const count = options.count;
  if (!Number.isSafeInteger(count) || count < 1) {
    throw invalid('/count', 'must be a positive integer');
  }
  const prefix = normalizeUsername(options.usernamePrefix);
  if (!new RegExp(USERNAME_PATTERN).test(`${prefix}${'0'.repeat(SUFFIX_CHARS)}`)) {
    throw invalid(
      '/usernamePrefix',
      `must be [a-z0-9_.-] and at most ${LIMITS.usernameMaxChars - SUFFIX_CHARS} characters`,
    );
  }
  const batchSize = Math.max(1, options.batchSize ?? 500);
  const concurrency = Math.max(1, options.concurrency ?? 16);
  const now = options.now ?? Date.now;

  const store = openUserStore(options.databaseUrl, { poolSize: concurrency });
  try {
    await store.migrate();
    const hasher = new PasswordHasher();
    const password = randomBytes(16).toString('base64url');
    const passwordHash = await hasher.hash(password);
    await hasher.close();
    const refreshTokens = new RefreshTokens(store, {
      ttlSec: options.refreshTokenTtlSec ?? loadAuthConfig({}).refreshTokenTtlSec,
      // Only rotation reads these; seeding just issues.
      graceSec: 0,
      now,
      logger: options.logger ?? createLogger({ name: 'auth-seed', level: 'silent' }),
    });

    // Row by row through the store, the same statements /register and /login run; the cost is
    // round trips, not hashing (~2 ms a user). Batches only bound what a failure loses.
    const users: SeededUser[] = [];
    for (let start = 0; start < count; start += batchSize) {
      const batch = new Array<SeededUser>(Math.min(batchSize, count - start));
      await inParallel(batch.length, concurrency, async (i) => {
        const user = await createUser(store, prefix, passwordHash, now);
        const { refreshToken } = await refreshTokens.issue(user.id);
        batch[i] = { ...user, refreshToken, issuedAt: now() };
      });
      users.push(...batch);
      options.onBatch?.({ password, users: batch });
    }
    return { password, users };
  } finally {
    await store.close();
  }
}

async function createUser(
  store: UserStore,
  prefix: string,
  passwordHash: string,
  now: () => number,
): Promise<{ id: UserId; username: string }> {
  for (let attempt = 0; attempt < MAX_NAME_ATTEMPTS; attempt++) {
    const user = {
      id: asUserId(randomUUID()),
      username: `${prefix}${randomBytes(SUFFIX_CHARS / 2).toString('hex')}`,
      passwordHash,
      createdAt: now(),
    };
    if (await store.createUser(user)) return { id: user.id, username: user.username };
  }
  throw new ChatError('username_taken', `no free username after ${MAX_NAME_ATTEMPTS} attempts`);
}

function invalid(field: string, message: string): ChatError {
  return new ChatError('validation_failed', `seedUsers: ${field.slice(1)} ${message}`, {
    fields: [{ field, message }],
  });
}
