import { type Kysely, type Migration, Migrator } from 'kysely';

/**
 * Runs the chat store's migrations to the latest, or up to and including `target` (the
 * upgrade test builds an older schema that way). The chat store keeps its own migration
 * bookkeeping tables (`chat_migration`, `chat_migration_lock`) rather than Kysely's
 * defaults, so that it can share one database with the auth service's users (one
 * PostgreSQL for everything) without either migrator seeing the other's migrations as
 * "missing". Several replicas starting at once are serialised by Kysely's migration lock.
 */
export async function runChatMigrations<DB>(
  db: Kysely<DB>,
  migrations: Record<string, Migration>,
  target?: string,
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'chat_migration',
    migrationLockTableName: 'chat_migration_lock',
  });
  const { error, results } =
    target === undefined ? await migrator.migrateToLatest() : await migrator.migrateTo(target);
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`chat store migration ${failed ?? '?'} failed`, { cause: error });
  }
}
