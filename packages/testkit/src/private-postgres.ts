/**
 * A PostgreSQL server of a test's own, for fault tests: initdb into a temp directory, run on
 * a free loopback port, and stopped (connections refused), restarted, frozen (SIGSTOP) and
 * thawed at will — never the shared server on 5432. PostgreSQL refuses to run as root, so
 * under root it runs as the `postgres` system user.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';
import { PrivateProcess } from './private-process.js';
import { waitFor } from './wait-for.js';

/** Where initdb and postgres live: POSTGRES_BIN_DIR, default Debian's PostgreSQL 15. */
export const POSTGRES_BIN_DIR = process.env.POSTGRES_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication). */
  readonly url: string;
  readonly port: number;
  /** URL of another database on this server. */
  urlOf(database: string): string;
  /** Creates a database (owned by postgres) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown: open connections are ended, new ones refused (ECONNREFUSED). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data; resolves when it accepts connections. */
  start(): Promise<void>;
  /** SIGSTOP to the postmaster and every backend: sockets stay open, nothing answers. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
  /** Stops it and deletes its data directory. */
  remove(): Promise<void>;
}

export interface PrivatePostgresOptions {
  /** `max_connections`. Default 100: three replicas and auth with pools of 10, restarting, need more than 20. */
  maxConnections?: number;
  /** How long to wait for it to accept connections, ms. Default 30 000. */
  readyTimeoutMs?: number;
}

/** Why a private PostgreSQL cannot run here, or undefined when it can. */
export function privatePostgresUnavailableReason(): string | undefined {
  for (const bin of ['initdb', 'postgres']) {
    if (!existsSync(join(POSTGRES_BIN_DIR, bin))) return `${join(POSTGRES_BIN_DIR, bin)} is missing`;
  }
  if (process.getuid?.() === 0 && systemUser('postgres') === undefined) {
    return 'running as root and there is no postgres user to run the server as';
  }
  return undefined;
}

/** initdb into a temp directory and start the server on a free port of 127.0.0.1. */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const reason = privatePostgresUnavailableReason();
  if (reason) throw new Error(`cannot run a private PostgreSQL: ${reason}`);
  const owner = process.getuid?.() === 0 ? systemUser('postgres') : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'relay-private-pg-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const dataDir = join(dir, 'data');
  const init = spawnSync(
    join(POSTGRES_BIN_DIR, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
    { encoding: 'utf8', ...(owner ? { uid: owner.uid, gid: owner.gid } : {}) },
  );
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr || init.error?.message}`);
  }
  const port = await freePort();
  const server = new PrivateProcess({
    label: `private PostgreSQL on ${port}`,
    command: join(POSTGRES_BIN_DIR, 'postgres'),
    args: [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `max_connections=${options.maxConnections ?? 100}`,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'shared_buffers=16MB',
    ],
    ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' },
  });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;

  const start = async () => {
    server.start();
    try {
      await waitFor(() => !server.running || accepts(url), {
        timeoutMs: readyTimeoutMs,
        intervalMs: 50,
        what: `private PostgreSQL on port ${port} to accept connections`,
      });
      if (!server.running) throw new Error('it exited');
    } catch (err) {
      server.killNow();
      throw new Error(`private PostgreSQL did not start: ${(err as Error).message}\n${server.output}`, {
        cause: err,
      });
    }
  };

  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    url,
    port,
    urlOf,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await client.end();
      }
      return urlOf(name);
    },
    // SIGINT is PostgreSQL's fast shutdown: backends are told to end, then the postmaster exits.
    stop: () => server.stop('SIGINT'),
    start,
    freeze: () => server.freeze(),
    thaw: () => server.thaw(),
    async remove() {
      await server.stop('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function accepts(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** uid and gid of a user in /etc/passwd. */
function systemUser(name: string): { uid: number; gid: number } | undefined {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined)
      return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}
