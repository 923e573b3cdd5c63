import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type Cluster, ensurePostgresDatabase, ServiceProcess, startCluster } from '@relay-chat/cluster';
import { cleanRedisPrefix, createTestDatabase, freePort, redisTestPrefix } from '@relay-chat/testkit';
import type { DriverKind } from './generator-protocol.js';
import { BENCH_DIR, REPO_ROOT } from './machine.js';
import type { WatchedProcess } from './process-sampler.js';

/** Where relay-chat's spawned targets keep their users by default (provisioned once, reused). */
export const DEFAULT_USERS_DATABASE_URL =
  process.env.BENCH_USERS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/relay_bench_users';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** What the bench drives. */
export type TargetSpec =
  | { kind: 'url'; urls: string[] }
  /** `dataOn`: where its SQLite file lives — the temp directory (disk, default) or /dev/shm (tmpfs). */
  | { kind: 'embedded'; dataOn?: 'disk' | 'tmpfs' }
  | { kind: 'cluster'; replicas: number; viaNginx: boolean }
  | { kind: 'baseline'; baseline: BaselineName };

export type BaselineName = 'ws' | 'ws-batched' | 'ws-redis' | 'socketio';

export const BASELINES: Record<
  BaselineName,
  { label: string; script: string; processes: number; redis: boolean; env?: Record<string, string> }
> = {
  ws: {
    label: 'bare ws broadcast (one pre-serialized buffer, ws.send per socket), 1 process',
    script: 'ws-relay.ts',
    processes: 1,
    redis: false,
  },
  'ws-batched': {
    label: 'ws, frames of one event-loop turn written once per socket — the limit, 1 process',
    script: 'ws-relay.ts',
    processes: 1,
    redis: false,
    env: { FLUSH_MS: '0' },
  },
  'ws-redis': {
    label: 'bare ws broadcast, 2 processes + Redis',
    script: 'ws-relay.ts',
    processes: 2,
    redis: true,
  },
  socketio: {
    label: 'Socket.IO + redis-adapter, 2 processes',
    script: 'socketio-relay.ts',
    processes: 2,
    redis: true,
  },
};

export interface DeploymentOptions {
  /** Users database of spawned relay-chat targets (`postgres://…` or `sqlite:…`). */
  usersDatabaseUrl?: string;
  /** Extra environment for spawned server processes. */
  serverEnv?: Record<string, string>;
  /**
   * embedded: run the server of another checkout (a git worktree of an earlier revision with
   * its node_modules linked, see previous-revision.ts) instead of this tree's; `label` names it.
   */
  sourceRoot?: { dir: string; label: string };
  log?: (line: string) => void;
}

/** A running system under test. */
export interface Deployment {
  /** Short label for tables, e.g. `relay-chat embedded`. */
  label: string;
  /** `relay-chat` needs users and conversations set up through its API; baselines do not. */
  kind: 'relay-chat' | 'baseline';
  driver: DriverKind;
  /** HTTP bases clients connect to, round-robin. */
  connectUrls: string[];
  /** relay-chat: base URL of `/api/auth` and `/api/chat`. */
  apiUrl?: string;
  /** relay-chat: identifies the user database (key of the user store). */
  usersKey?: string;
  /**
   * relay-chat targets the bench spawned: the auth database it gave them (`postgres://…` or
   * `sqlite:…`), which the bench may seed users into directly. Absent for a target given by URL.
   */
  usersDatabaseUrl?: string;
  /** Local processes of the system under test (sampled for CPU and RSS). */
  processes: WatchedProcess[];
  /** How it was started, for the report. */
  description: string;
  stop(): Promise<void>;
}

/** Bench-friendly server limits: the per-user send rate limit must not throttle bench senders. */
// The bench measures throughput, not the per-user limits that keep one user from hurting others.
const BENCH_SERVER_ENV = {
  SEND_RATE_PER_SEC: '100000',
  SEND_BURST: '200000',
  REST_RATE_PER_SEC: '100000',
  REST_BURST: '200000',
  MAX_CONNECTIONS_PER_USER: '100000',
  GROUPS_PER_HOUR: '100000',
  // No first-visit channel: every bench user joining #general would announce itself to all
  // the others (N² member events while users connect), which is not the workload measured.
  DEFAULT_CHANNELS: '',
  LOG_LEVEL: 'warn',
};

function tsxArgs(script: string): string[] {
  return ['--conditions=source', '--import', 'tsx', script];
}

function serviceProcess(
  name: string,
  script: string,
  env: NodeJS.ProcessEnv,
  readyUrl: string,
  logDir: string,
  cwd = REPO_ROOT,
): ServiceProcess {
  return new ServiceProcess({
    name,
    command: process.execPath,
    args: tsxArgs(script),
    env,
    cwd,
    logFile: join(logDir, `${name}.log`),
    verbose: false,
    readyUrl,
    readyTimeoutMs: 120_000,
    stopTimeoutMs: 10_000,
  });
}

/** Starts (or, for a URL, just describes) the system under test. */
export async function startDeployment(
  target: TargetSpec,
  options: DeploymentOptions = {},
): Promise<Deployment> {
  switch (target.kind) {
    case 'url':
      return {
        label: `relay-chat at ${target.urls.join(', ')}`,
        kind: 'relay-chat',
        driver: 'relay',
        connectUrls: target.urls,
        apiUrl: target.urls[0]!,
        usersKey: new URL(target.urls[0]!).host,
        processes: [],
        description: `existing deployment at ${target.urls.join(', ')}`,
        stop: async () => {},
      };
    case 'embedded':
      return startEmbedded(options, target.dataOn ?? 'disk');
    case 'cluster':
      return startRelayCluster(target.replicas, target.viaNginx, options);
    case 'baseline':
      return startBaseline(target.baseline, options);
  }
}

/** Where `embedded:tmpfs` keeps its data: memory-backed, so a commit's fsync costs nothing. */
const TMPFS_DIR = '/dev/shm';

async function startEmbedded(options: DeploymentOptions, dataOn: 'disk' | 'tmpfs'): Promise<Deployment> {
  const usersDb = options.usersDatabaseUrl ?? DEFAULT_USERS_DATABASE_URL;
  await ensureUsersDatabase(usersDb);
  if (dataOn === 'tmpfs' && !existsSync(TMPFS_DIR)) throw new Error(`embedded:tmpfs needs ${TMPFS_DIR}`);
  const workDir = mkdtempSync(join(dataOn === 'tmpfs' ? TMPFS_DIR : tmpdir(), 'relay-bench-embedded-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    ...BENCH_SERVER_ENV,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: workDir,
    DATABASE_URL: usersDb,
    MESSAGE_STORE_URL: `sqlite:${join(workDir, 'chat.db')}`,
    ...options.serverEnv,
  };
  const root = options.sourceRoot;
  const name = root ? `relay-chat-${root.label}` : 'relay-chat';
  const server = serviceProcess(
    name,
    'apps/server/src/main.ts',
    env,
    `${url}/api/chat/ready`,
    workDir,
    root?.dir,
  );
  await server.start();
  return {
    label: root
      ? `relay-chat embedded (${root.label})`
      : `relay-chat embedded, data on ${dataOn === 'tmpfs' ? 'tmpfs' : 'disk'}`,
    kind: 'relay-chat',
    driver: 'relay',
    connectUrls: [url],
    apiUrl: url,
    usersKey: usersDb,
    // What the server was given (--server-env may override DATABASE_URL).
    usersDatabaseUrl: env.DATABASE_URL,
    processes: [{ name, role: 'server', pid: server.pid! }],
    description: `one process (apps/server${root ? ` of ${root.label}` : ''}), messages in SQLite (fresh file${dataOn === 'tmpfs' ? ' on tmpfs' : ' on disk'}), users in ${redact(usersDb)}`,
    async stop() {
      await server.stop();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

async function startRelayCluster(
  replicas: number,
  viaNginx: boolean,
  options: DeploymentOptions,
): Promise<Deployment> {
  const usersDb = options.usersDatabaseUrl ?? DEFAULT_USERS_DATABASE_URL;
  const messages = await createTestDatabase('bench_messages');
  const redisPrefix = redisTestPrefix('bench');
  let cluster: Cluster;
  try {
    cluster = await startCluster({
      replicas,
      port: 0,
      databaseUrl: usersDb,
      messageStoreUrl: messages.url,
      redisUrl: REDIS_URL,
      redisPrefix,
      logLevel: 'warn',
      env: { ...BENCH_SERVER_ENV, ...options.serverEnv },
    });
  } catch (err) {
    await messages.drop();
    await cleanRedisPrefix(redisPrefix);
    throw err;
  }
  const processes: WatchedProcess[] = [
    ...cluster.replicas.map((r) => ({ name: r.name, role: 'server' as const, pid: r.pid! })),
    { name: 'auth', role: 'server', pid: cluster.auth.pid! },
  ];
  if (viaNginx) processes.push({ name: 'nginx', role: 'server', pid: cluster.nginx.pid! });
  return {
    label: `relay-chat ${replicas} replicas + Redis + PostgreSQL`,
    kind: 'relay-chat',
    driver: 'relay',
    connectUrls: viaNginx ? [cluster.url] : cluster.chatUrls,
    apiUrl: cluster.url,
    usersKey: usersDb,
    usersDatabaseUrl: usersDb,
    processes,
    description:
      `auth + ${replicas} chat replicas (processes), messages in PostgreSQL (fresh database), Redis bus, ` +
      (viaNginx
        ? 'clients through nginx'
        : 'clients straight to the replicas (round-robin), REST through nginx'),
    async stop() {
      await cluster.stop();
      await messages.drop();
      await cleanRedisPrefix(redisPrefix);
    },
  };
}

async function startBaseline(name: BaselineName, options: DeploymentOptions): Promise<Deployment> {
  const spec = BASELINES[name];
  const redisPrefix = redisTestPrefix(`bench-${name}`);
  const logDir = mkdtempSync(join(tmpdir(), `relay-bench-${name}-`));
  const ports = await Promise.all(Array.from({ length: spec.processes }, () => freePort()));
  const servers = ports.map((port, i) =>
    serviceProcess(
      `${name}-${i + 1}`,
      join('apps/bench/baselines', spec.script),
      {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        ...(spec.redis ? { REDIS_URL, REDIS_PREFIX: redisPrefix } : {}),
        ...spec.env,
        ...options.serverEnv,
      },
      `http://127.0.0.1:${port}/ready`,
      logDir,
    ),
  );
  try {
    await Promise.all(servers.map((s) => s.start()));
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  return {
    label: spec.label,
    kind: 'baseline',
    driver: name === 'socketio' ? 'socketio' : 'relay',
    connectUrls: ports.map((p) => `http://127.0.0.1:${p}`),
    processes: servers.map((s) => ({ name: s.name, role: 'server' as const, pid: s.pid! })),
    description: `apps/bench/baselines/${spec.script}${
      spec.env
        ? ` (${Object.entries(spec.env)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')})`
        : ''
    }, ${spec.processes} process(es)${spec.redis ? ' over Redis pub/sub' : ''}`,
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      if (spec.redis) await cleanRedisPrefix(redisPrefix);
      rmSync(logDir, { recursive: true, force: true });
    },
  };
}

/** Parses `--spawn embedded|cluster[:N]|baseline:<name>` and `--target url[,url…]`. */
export function parseTarget(
  spawn: string | undefined,
  target: string | undefined,
  viaNginx = false,
): TargetSpec {
  if (spawn && target) throw new Error('give either --spawn or --target, not both');
  if (target) {
    const urls = target.split(',').map((u) => u.trim().replace(/\/$/, ''));
    for (const u of urls)
      if (!/^https?:\/\/[^/]+$/.test(u)) throw new Error(`--target: "${u}" is not like http://host:port`);
    return { kind: 'url', urls };
  }
  const value = spawn ?? 'embedded';
  if (value === 'embedded' || value === 'embedded:disk') return { kind: 'embedded' };
  if (value === 'embedded:tmpfs') return { kind: 'embedded', dataOn: 'tmpfs' };
  const cluster = /^cluster(?::(\d+))?$/.exec(value);
  if (cluster) return { kind: 'cluster', replicas: Number(cluster[1] ?? 2), viaNginx };
  const baseline = /^baseline:(.+)$/.exec(value)?.[1];
  if (baseline && baseline in BASELINES) return { kind: 'baseline', baseline: baseline as BaselineName };
  throw new Error(
    `--spawn: expected embedded[:tmpfs], cluster[:N] or baseline:{${Object.keys(BASELINES).join(',')}}, got "${value}"`,
  );
}

/** The bench's own scratch space for a run's files. */
export function benchDir(...parts: string[]): string {
  const dir = join(BENCH_DIR, ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Creates the users database (PostgreSQL) or its directory (SQLite) when missing. */
async function ensureUsersDatabase(url: string): Promise<void> {
  if (url.startsWith('sqlite:')) mkdirSync(dirname(url.slice('sqlite:'.length)), { recursive: true });
  else await ensurePostgresDatabase(url);
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
