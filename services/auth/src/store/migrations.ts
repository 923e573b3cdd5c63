import type { DatabaseKind } from '@relay-chat/service-kit';
import { type Kysely, type Migration, sql } from 'kysely';

/** The auth schema, one migration per change, applied in name order at start. */
export function authMigrations(kind: DatabaseKind): Record<string, Migration> {
  // PostgreSQL compares usernames bytewise (collation "C"), as SQLite does by default, so that
  // prefix ranges and cursor order mean the same on both and use the unique index.
  const usernameType = kind === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    '0001_users': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('users')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('username', usernameType, (c) => c.notNull().unique())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0002_refresh_tokens': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('refresh_families')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .execute();
        await db.schema
          .createTable('refresh_tokens')
          .addColumn('token_hash', 'text', (c) => c.primaryKey())
          .addColumn('family_id', 'text', (c) =>
            c.notNull().references('refresh_families.id').onDelete('cascade'),
          )
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('spent_at', 'bigint')
          .execute();
        await db.schema
          .createIndex('refresh_tokens_family')
          .on('refresh_tokens')
          .column('family_id')
          .execute();
        await db.schema
          .createIndex('refresh_tokens_expiry')
          .on('refresh_tokens')
          .column('expires_at')
          .execute();
      },
    },
    '0003_login_throttle': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('login_failures')
          .addColumn('attempt_id', 'text', (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('login_failures_key_at')
          .on('login_failures')
          .columns(['key', 'at'])
          .execute();
        await db.schema.createIndex('login_failures_at').on('login_failures').column('at').execute();
        await db.schema
          .createIndex('login_failures_attempt')
          .on('login_failures')
          .column('attempt_id')
          .execute();
        await db.schema
          .createTable('login_addresses')
          .addColumn('username', usernameType, (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('last_success_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('login_addresses_pk', ['username', 'address'])
          .execute();
      },
    },
    '0004_registration_throttle': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('registration_attempts')
          .addColumn('attempt_id', 'text', (c) => c.primaryKey())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('registration_attempts_address_at')
          .on('registration_attempts')
          .columns(['address', 'at'])
          .execute();
        await db.schema
          .createIndex('registration_attempts_at')
          .on('registration_attempts')
          .column('at')
          .execute();
      },
    },
    '0005_revocations': {
      async up(db: Kysely<unknown>) {
        // Ids must never be reused, even after every row was pruned: consumers poll `after`.
        await db.schema
          .createTable('revocations')
          .addColumn('id', kind === 'postgres' ? 'bigserial' : 'integer', (c) =>
            kind === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('sid', 'text')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('revocations_revoked_at')
          .on('revocations')
          .column('revoked_at')
          .execute();
      },
    },
  };
}
