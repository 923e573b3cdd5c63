import pg from 'pg';

/**
 * Creates the PostgreSQL database named in `url` when it does not exist yet (connecting to
 * the server's `postgres` database to do so). Other URL schemes are left alone.
 */
export async function ensurePostgresDatabase(url: string): Promise<void> {
  if (!/^postgres(ql)?:\/\//.test(url)) return;
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (name === '') throw new Error('the PostgreSQL URL names no database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`PostgreSQL at ${target.host} is unreachable: ${(err as Error).message}`);
  }
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      } catch (err) {
        // Another launcher created it in the meantime.
        if ((err as { code?: string }).code !== '42P04') throw err;
      }
    }
  } finally {
    await client.end();
  }
}
