import type { User, UserId } from '@relay-chat/protocol';
import {
  migrateToLatest,
  type OpenDatabaseOptions,
  type OpenedDatabase,
  openDatabase,
} from '@relay-chat/service-kit';
import { type Generated, type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import type { Revocation } from '../revocations.js';
import { authMigrations } from './migrations.js';
import type { NewRefreshToken, RefreshTokenRecord, UserRecord, UserStore } from './user-store.js';

interface Database {
  users: { id: UserId; username: string; password_hash: string; created_at: number };
  refresh_families: { id: string; user_id: UserId; created_at: number; revoked_at: number | null };
  refresh_tokens: {
    token_hash: string;
    family_id: string;
    user_id: UserId;
    created_at: number;
    expires_at: number;
    spent_at: number | null;
  };
  login_failures: { attempt_id: string; key: string; at: number };
  login_addresses: { username: string; address: string; last_success_at: number };
  registration_attempts: { attempt_id: string; address: string; at: number };
  revocations: { id: Generated<number>; sid: string | null; user_id: UserId; revoked_at: number };
}

// PostgreSQL transaction-level advisory lock taken before inserting a revocation: ids are
// drawn from a sequence when the row is inserted, so without it a later transaction could
// commit a higher id first and a poller reading `after` would skip the lower one for good.
const REVOCATION_LOCK = 0x7265766f; // 'revo'

// Every username is made of [a-z0-9_.-], all below '{' (0x7b): the usernames starting with
// `p` are exactly those in [p, p + '{').
const PREFIX_UPPER_BOUND = '{';

/**
 * The UserStore on SQLite (embedded) and PostgreSQL, through Kysely. The SQL is the same for
 * both dialects; only the schema differs (username collation, see migrations.ts).
 */
export class KyselyUserStore implements UserStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly opened: OpenedDatabase<Database>) {
    this.db = opened.db;
  }

  migrate(): Promise<void> {
    // Migrations may rebuild indexes: they run without the request timeouts.
    return this.opened.withoutTimeouts((db) => migrateToLatest(db, authMigrations(this.opened.kind)));
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  close(): Promise<void> {
    return this.opened.close();
  }

  async createUser(user: UserRecord): Promise<boolean> {
    const result = await this.db
      .insertInto('users')
      .values({
        id: user.id,
        username: user.username,
        password_hash: user.passwordHash,
        created_at: user.createdAt,
      })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async findUserByUsername(username: string): Promise<UserRecord | undefined> {
    const row = await this.db
      .selectFrom('users')
      .selectAll()
      .where('username', '=', username)
      .executeTakeFirst();
    return row && toUserRecord(row);
  }

  async findUserById(id: UserId): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toUserRecord(row);
  }

  async findUsersByIds(ids: readonly UserId[]): Promise<User[]> {
    if (ids.length === 0) return [];
    return this.db
      .selectFrom('users')
      .select(['id', 'username'])
      .where('id', 'in', [...new Set(ids)])
      .orderBy('username')
      .execute();
  }

  async searchUsers(query: { prefix: string; after?: string | undefined; limit: number }): Promise<User[]> {
    let select = this.db.selectFrom('users').select(['id', 'username']);
    if (query.prefix !== '') {
      select = select
        .where('username', '>=', query.prefix)
        .where('username', '<', query.prefix + PREFIX_UPPER_BOUND);
    }
    if (query.after !== undefined) select = select.where('username', '>', query.after);
    return select.orderBy('username').limit(query.limit).execute();
  }

  async updatePasswordHash(id: UserId, passwordHash: string): Promise<void> {
    await this.db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', id).execute();
  }

  async deleteUser(id: UserId, now: number): Promise<Revocation | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const user = await trx.selectFrom('users').select('username').where('id', '=', id).executeTakeFirst();
      if (!user) return undefined;
      await trx.deleteFrom('refresh_tokens').where('user_id', '=', id).execute();
      await trx.deleteFrom('refresh_families').where('user_id', '=', id).execute();
      await trx.deleteFrom('login_addresses').where('username', '=', user.username).execute();
      await trx.deleteFrom('users').where('id', '=', id).execute();
      return this.recordRevocation(trx, { sid: null, userId: id, revokedAt: now });
    });
  }

  async createRefreshFamily(first: NewRefreshToken): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('refresh_families')
        .values({ id: first.familyId, user_id: first.userId, created_at: first.createdAt, revoked_at: null })
        .execute();
      await trx.insertInto('refresh_tokens').values(toTokenRow(first)).execute();
    });
  }

  async addRefreshToken(token: NewRefreshToken): Promise<void> {
    await this.db.insertInto('refresh_tokens').values(toTokenRow(token)).execute();
  }

  async spendRefreshToken(tokenHash: string, now: number): Promise<RefreshTokenRecord | undefined> {
    // One statement: of two concurrent spends, the second sees spent_at set and matches nothing.
    const row = await this.db
      .updateTable('refresh_tokens')
      .set({ spent_at: now })
      .where('token_hash', '=', tokenHash)
      .where('spent_at', 'is', null)
      .where('expires_at', '>', now)
      .where('family_id', 'in', (eb) =>
        eb.selectFrom('refresh_families').select('id').where('revoked_at', 'is', null),
      )
      .returningAll()
      .executeTakeFirst();
    return row && { ...toTokenRecord(row), familyRevokedAt: null };
  }

  async findRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const row = await this.db
      .selectFrom('refresh_tokens as t')
      .innerJoin('refresh_families as f', 'f.id', 't.family_id')
      .selectAll('t')
      .select('f.revoked_at')
      .where('t.token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row && { ...toTokenRecord(row), familyRevokedAt: row.revoked_at };
  }

  async revokeRefreshFamily(familyId: string, now: number): Promise<Revocation | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const revoked = await trx
        .updateTable('refresh_families')
        .set({ revoked_at: now })
        .where('id', '=', familyId)
        .where('revoked_at', 'is', null)
        .returning('user_id')
        .executeTakeFirst();
      if (!revoked) return undefined;
      return this.recordRevocation(trx, { sid: familyId, userId: revoked.user_id, revokedAt: now });
    });
  }

  async revocationsAfter(after: number, limit: number): Promise<Revocation[]> {
    const rows = await this.db
      .selectFrom('revocations')
      .selectAll()
      .where('id', '>', after)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((row) => ({ id: row.id, sid: row.sid, userId: row.user_id, revokedAt: row.revoked_at }));
  }

  private async recordRevocation(
    trx: Transaction<Database>,
    revocation: Omit<Revocation, 'id'>,
  ): Promise<Revocation> {
    if (this.opened.kind === 'postgres') {
      await sql`select pg_advisory_xact_lock(${REVOCATION_LOCK})`.execute(trx);
    }
    const { id } = await trx
      .insertInto('revocations')
      .values({ sid: revocation.sid, user_id: revocation.userId, revoked_at: revocation.revokedAt })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: Number(id), ...revocation };
  }

  async recordLoginFailure(attemptId: string, keys: readonly string[], at: number): Promise<void> {
    if (keys.length === 0) return;
    await this.db
      .insertInto('login_failures')
      .values(keys.map((key) => ({ attempt_id: attemptId, key, at })))
      .execute();
  }

  async forgetLoginFailure(attemptId: string): Promise<void> {
    await this.db.deleteFrom('login_failures').where('attempt_id', '=', attemptId).execute();
  }

  async nthRecentLoginFailure(key: string, since: number, n: number): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('login_failures')
      .select('at')
      .where('key', '=', key)
      .where('at', '>', since)
      .orderBy('at', 'desc')
      .limit(1)
      .offset(n - 1)
      .executeTakeFirst();
    return row?.at;
  }

  async clearLoginFailures(key: string): Promise<void> {
    await this.db.deleteFrom('login_failures').where('key', '=', key).execute();
  }

  async rememberLoginAddress(username: string, address: string, at: number): Promise<void> {
    await this.db
      .insertInto('login_addresses')
      .values({ username, address, last_success_at: at })
      .onConflict((oc) => oc.columns(['username', 'address']).doUpdateSet({ last_success_at: at }))
      .execute();
  }

  async lastLoginFromAddress(username: string, address: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('login_addresses')
      .select('last_success_at')
      .where('username', '=', username)
      .where('address', '=', address)
      .executeTakeFirst();
    return row?.last_success_at;
  }

  async recordRegistrationAttempt(attemptId: string, address: string, at: number): Promise<void> {
    await this.db
      .insertInto('registration_attempts')
      .values({ attempt_id: attemptId, address, at })
      .execute();
  }

  async forgetRegistrationAttempt(attemptId: string): Promise<void> {
    await this.db.deleteFrom('registration_attempts').where('attempt_id', '=', attemptId).execute();
  }

  async nthRecentRegistrationAttempt(query: {
    address?: string | undefined;
    since: number;
    n: number;
  }): Promise<number | undefined> {
    let select = this.db.selectFrom('registration_attempts').select('at').where('at', '>', query.since);
    if (query.address !== undefined) select = select.where('address', '=', query.address);
    const row = await select
      .orderBy('at', 'desc')
      .limit(1)
      .offset(query.n - 1)
      .executeTakeFirst();
    return row?.at;
  }

  async prune(input: {
    now: number;
    failuresBefore: number;
    addressesBefore: number;
    registrationsBefore: number;
    revocationsBefore: number;
  }): Promise<void> {
    await this.db.deleteFrom('refresh_tokens').where('expires_at', '<=', input.now).execute();
    await this.db
      .deleteFrom('refresh_families')
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('refresh_tokens as t')
              .select('t.token_hash')
              .whereRef('t.family_id', '=', 'refresh_families.id'),
          ),
        ),
      )
      .execute();
    await this.db.deleteFrom('login_failures').where('at', '<=', input.failuresBefore).execute();
    await this.db
      .deleteFrom('login_addresses')
      .where('last_success_at', '<=', input.addressesBefore)
      .execute();
    await this.db.deleteFrom('registration_attempts').where('at', '<=', input.registrationsBefore).execute();
    await this.db.deleteFrom('revocations').where('revoked_at', '<=', input.revocationsBefore).execute();
  }
}

/** Opens `sqlite:…` or `postgres://…` as a UserStore (not yet migrated). */
export function openUserStore(url: string, options: OpenDatabaseOptions = {}): UserStore {
  return new KyselyUserStore(openDatabase<Database>(url, options));
}

function toUserRecord(row: Selectable<Database['users']>): UserRecord {
  return { id: row.id, username: row.username, passwordHash: row.password_hash, createdAt: row.created_at };
}

function toTokenRow(token: NewRefreshToken): Database['refresh_tokens'] {
  return {
    token_hash: token.tokenHash,
    family_id: token.familyId,
    user_id: token.userId,
    created_at: token.createdAt,
    expires_at: token.expiresAt,
    spent_at: null,
  };
}

function toTokenRecord(
  row: Selectable<Database['refresh_tokens']>,
): Omit<RefreshTokenRecord, 'familyRevokedAt'> {
  return {
    tokenHash: row.token_hash,
    familyId: row.family_id,
    userId: row.user_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    spentAt: row.spent_at,
  };
}
