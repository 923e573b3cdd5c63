/**
 * A private PostgreSQL and a private Redis for tests that stop, freeze or restart them.
 *
 * The shared servers on 5432/6379 belong to everyone's tests and are never touched: a test
 * that needs a database or a broker to fail starts its own on a free loopback port, in a
 * temp directory, and removes it afterwards — also when the test fails or its worker exits
 * (the process 'exit' hook and, where util-linux's setpriv exists, a parent-death signal).
 *
 * PostgreSQL refuses to run as root, so initdb and postgres run with the uid/gid of the
 * `postgres` system user. pause() freezes the server's process and every process it forked
 * (SIGSTOP; PostgreSQL's backends each start a session of their own, so a process-group
 * signal would miss them), as a hung host would.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@relay-chat/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';

/** A server this test owns: stop/start keep its port and data; pause/resume freeze it. */
export interface PrivateService {
  /** Connection URL (PostgreSQL: the `postgres` database as user postgres, trust auth). */
  url: string;
  /** Loopback port it listens on, the same across restarts. */
  port: number;
  /** Stops the server (clients get "connection refused" until start()). Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data; resolves once it answers. */
  start(): Promise<void>;
  /** Freezes every process of the server (SIGSTOP): connections hang, nothing is refused. */
  pause(): void;
  /** Undoes pause() (SIGCONT). */
  resume(): void;
  /** Stops it for good and removes its directory. Idempotent. */
  close(): Promise<void>;
}

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const STOP_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 30_000;

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find(
  (path) => existsSync(path) && spawnSync(path, ['--pdeathsig', 'KILL', '--', 'true']).status === 0,
);

/**
 * Whether private servers can run here: the PostgreSQL binaries, the `postgres` system user
 * and redis-server. Missing → false with a loud notice (a failure under CI=true), as
 * testkit does for the shared servers.
 */
export function privateServicesAvailable(): boolean {
  const missing: string[] = [];
  if (!existsSync(join(PG_BIN, 'postgres')) || !existsSync(join(PG_BIN, 'initdb'))) {
    missing.push(`PostgreSQL binaries in ${PG_BIN}`);
  }
  if (
    !readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .some((l) => l.startsWith('postgres:'))
  ) {
    missing.push('the postgres system user');
  }
  const redis = spawnSync(process.env.REDIS_SERVER_BIN ?? 'redis-server', ['--version']);
  if (redis.status !== 0) missing.push('redis-server');
  if (missing.length === 0) return true;
  const message = `private PostgreSQL/Redis cannot run here (missing ${missing.join(', ')})`;
  if (process.env.CI === 'true') throw new Error(`${message}: CI=true requires them`);
  console.warn(`\n!!! ${message}: SKIPPING the suites that need them !!!\n`);
  return false;
}

/** Process groups still running, killed when the test worker exits without cleaning up. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pgid of liveGroups) signalTree(pgid, 'SIGCONT');
    for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
  });
}

/** A process and all its descendants, parents first (from /proc). */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

function signalTree(root: number | undefined, signal: NodeJS.Signals): void {
  if (root === undefined) return;
  const tree = processTree(root);
  // Stop the parent first (it forks no more); continue the children first.
  for (const pid of signal === 'SIGCONT' ? tree.reverse() : tree) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** uid/gid of a system user, from /etc/passwd. */
function systemUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no system user "${name}" (PostgreSQL must not run as root)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function runToEnd(
  command: string,
  args: string[],
  options: { uid: number; gid: number; cwd: string },
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', (err) => resolve({ code: -1, output: err.message }));
    child.once('close', (code) => resolve({ code, output }));
  });
}

interface Spawned {
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
}

function spawnInGroup(
  command: string,
  args: string[],
  options: { uid?: number; gid?: number; cwd: string },
): Spawned {
  const [cmd, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
  const child = spawn(cmd, argv, {
    cwd: options.cwd,
    detached: true, // its own process group, out of the test worker's
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }),
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const pgid = child.pid;
  if (pgid !== undefined) liveGroups.add(pgid);
  installExitHook();
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      if (pgid !== undefined) liveGroups.delete(pgid);
      resolve();
    });
    child.once('error', () => resolve());
  });
  return { child, exited, output: () => output };
}

async function stopSpawned(spawned: Spawned | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!spawned || spawned.child.exitCode !== null || spawned.child.signalCode !== null) return;
  const pgid = spawned.child.pid!;
  signalTree(pgid, 'SIGCONT'); // a paused server cannot act on its signal
  spawned.child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
  });
  if ((await Promise.race([spawned.exited, timedOut])) === 'timeout') {
    signalGroup(pgid, 'SIGKILL');
    await spawned.exited;
  }
  clearTimeout(timer);
}

async function waitUntil(what: string, check: () => Promise<void>, spawned: Spawned): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) {
      throw new Error(`${what} exited before it was ready; its output:\n${spawned.output()}`);
    }
    try {
      await check();
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${what} was not ready within ${READY_TIMEOUT_MS} ms (${last}); output:\n${spawned.output()}`,
  );
}

/** A PostgreSQL 15 of its own: initdb into a temp directory, trust auth, loopback only. */
export async function startPrivatePostgres(): Promise<PrivateService> {
  const user = systemUser('postgres');
  const dir = mkdtempSync(join(tmpdir(), 'relay-private-pg-'));
  chownSync(dir, user.uid, user.gid);
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const init = await runToEnd(
    join(PG_BIN, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { uid: user.uid, gid: user.gid, cwd: dir },
  );
  if (init.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.code}): ${init.output}`);
  }
  let server: Spawned | undefined;
  let closed = false;

  const start = async () => {
    if (closed) throw new Error('private PostgreSQL is closed');
    if (server && server.child.exitCode === null && server.child.signalCode === null) return;
    server = spawnInGroup(
      join(PG_BIN, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=200',
      ],
      { uid: user.uid, gid: user.gid, cwd: dir },
    );
    const current = server;
    await waitUntil(
      `private PostgreSQL on port ${port}`,
      async () => {
        const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
        client.on('error', () => {});
        try {
          await client.connect();
          await client.query('select 1');
        } finally {
          await client.end().catch(() => {});
        }
      },
      current,
    );
  };
  // Fast shutdown (SIGINT): backends are ended, new connections are refused.
  const stop = () => stopSpawned(server, 'SIGINT');
  const service: PrivateService = {
    url,
    port,
    start,
    stop,
    pause: () => signalTree(server?.child.pid, 'SIGSTOP'),
    resume: () => signalTree(server?.child.pid, 'SIGCONT'),
    close: async () => {
      if (closed) return;
      await stop();
      closed = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await start();
  } catch (err) {
    await service.close();
    throw err;
  }
  return service;
}

/** A redis-server of its own: no persistence, loopback only. */
export async function startPrivateRedis(): Promise<PrivateService> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-private-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server: Spawned | undefined;
  let closed = false;

  const start = async () => {
    if (closed) throw new Error('private Redis is closed');
    if (server && server.child.exitCode === null && server.child.signalCode === null) return;
    server = spawnInGroup(
      process.env.REDIS_SERVER_BIN ?? 'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { cwd: dir },
    );
    const current = server;
    await waitUntil(
      `private Redis on port ${port}`,
      async () => {
        const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000 });
        redis.on('error', () => {});
        try {
          await redis.connect();
          await redis.ping();
        } finally {
          redis.disconnect();
        }
      },
      current,
    );
  };
  const stop = () => stopSpawned(server, 'SIGTERM');
  const service: PrivateService = {
    url,
    port,
    start,
    stop,
    pause: () => signalTree(server?.child.pid, 'SIGSTOP'),
    resume: () => signalTree(server?.child.pid, 'SIGCONT'),
    close: async () => {
      if (closed) return;
      await stop();
      closed = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await start();
  } catch (err) {
    await service.close();
    throw err;
  }
  return service;
}
