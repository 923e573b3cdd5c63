import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@relay-chat/testkit';
import { ensurePostgresDatabase } from './database.js';
import { defaultMimeTypesPath, MINIMAL_MIME_TYPES, renderNginxConfig } from './nginx-config.js';
import { ServiceProcess } from './service-process.js';

/** Root of the repository (the launcher runs from src/ or dist/ alike). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The built web client served by nginx when present. */
export const WEB_DIST = join(REPO_ROOT, 'apps/web/dist');

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/relay_chat';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface ClusterOptions {
  /** Chat replicas, each its own process. Default 3. */
  replicas?: number;
  /** nginx port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Users database (auth). Created when missing. Default DEFAULT_DATABASE_URL. */
  databaseUrl?: string;
  /** Message store (chat): `postgres://…` (created when missing), `mongodb://…`, `sqlite:…`. Default: databaseUrl. */
  messageStoreUrl?: string;
  /** Default DEFAULT_REDIS_URL. */
  redisUrl?: string;
  /** Seed node URLs of a Redis Cluster: the replicas get REDIS_CLUSTER_NODES instead of REDIS_URL (sharded pub/sub). */
  redisClusterNodes?: readonly string[];
  /** Prefix of every Redis key and channel. Default `relay:`. */
  redisPrefix?: string;
  /** Extra environment for every service process. */
  env?: Record<string, string>;
  /** Extra environment for the auth process. */
  authEnv?: Record<string, string>;
  /** Extra environment per chat replica (index 0 is the first replica), or one object for all. */
  replicaEnv?: Record<string, string> | ((index: number) => Record<string, string>);
  /** LOG_LEVEL of the services. Default `warn`. */
  logLevel?: string;
  /** Run the compiled `dist/main.js` (after `npm run build`) instead of the TypeScript sources via tsx. Default false. */
  useBuild?: boolean;
  /** Children write to the launcher's stdout/stderr instead of log files. Default false. */
  verbose?: boolean;
  /** Directory nginx serves at `/`. Default apps/web/dist when it has an index.html, else a placeholder page. */
  webRoot?: string;
  /** Directory of the auth signing key (DATA_DIR of auth). Default: inside the work directory (a new key per run). */
  authDataDir?: string;
  /** Keep the work directory (logs, rendered nginx.conf) after stop(). Default false. */
  keepWorkDir?: boolean;
  /** nginx binary. Default /usr/sbin/nginx, else `nginx` on PATH. */
  nginxBin?: string;
  /** Per process wait for /ready, ms. Default 120 000 (tsx compiles on start; a loaded machine is slow). */
  readyTimeoutMs?: number;
  /** Per process wait after SIGTERM before SIGKILL, ms. Default 10 000. */
  stopTimeoutMs?: number;
}

export interface Cluster {
  /** nginx: the URL clients use, e.g. http://127.0.0.1:8080 */
  url: string;
  /** nginx's WebSocket endpoint, e.g. ws://127.0.0.1:8080/ws */
  wsUrl: string;
  /** The auth service directly. */
  authUrl: string;
  /** Each chat replica directly, in replica order. */
  chatUrls: string[];
  auth: ServiceProcess;
  /** The chat replicas: kill(signal) and restart() them behind nginx. */
  replicas: ServiceProcess[];
  nginx: ServiceProcess;
  /** Temp directory of this cluster: nginx.conf, logs/, nginx temp files. */
  workDir: string;
  /** Where every process's log file is (`<name>.log`). */
  logDir: string;
  databaseUrl: string;
  messageStoreUrl: string;
  redisUrl: string;
  /** The Redis Cluster seeds the replicas use, when they use one (then `redisUrl` is unused). */
  redisClusterNodes: readonly string[] | undefined;
  redisPrefix: string;
  /** Whether nginx serves the real web client (false: a placeholder page). */
  servesWebClient: boolean;
  /** Stops nginx, the replicas and auth (SIGTERM, then SIGKILL after stopTimeoutMs). Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<ServiceProcess>();
let exitHookInstalled = false;

/**
 * Starts auth, `replicas` chat replicas and nginx in front of them on this machine, against
 * local PostgreSQL and Redis, and resolves once every one answers its readiness check.
 * If anything fails to start, everything started so far is stopped and the error names the
 * process and quotes its log.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const env = process.env;
  const replicaCount = options.replicas ?? 3;
  if (!Number.isInteger(replicaCount) || replicaCount < 1) throw new Error('replicas must be ≥ 1');
  const databaseUrl = options.databaseUrl ?? DEFAULT_DATABASE_URL;
  const messageStoreUrl = options.messageStoreUrl ?? databaseUrl;
  const redisUrl = options.redisUrl ?? DEFAULT_REDIS_URL;
  const redisPrefix = options.redisPrefix ?? 'relay:';
  const logLevel = options.logLevel ?? 'warn';
  const verbose = options.verbose ?? false;
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 10_000;

  await ensurePostgresDatabase(databaseUrl);
  if (messageStoreUrl !== databaseUrl) await ensurePostgresDatabase(messageStoreUrl);

  const workDir = mkdtempSync(join(tmpdir(), 'relay-cluster-'));
  // nginx's workers drop to an unprivileged user when started as root: they must reach
  // the temp and web directories.
  chmodSync(workDir, 0o755);
  const logDir = join(workDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const nginxPort = options.port ?? 8080;
  const [port, authPort, ...chatPorts] = await Promise.all([
    nginxPort === 0 ? freePort() : nginxPort,
    freePort(),
    ...Array.from({ length: replicaCount }, () => freePort()),
  ]);
  const url = `http://127.0.0.1:${port}`;
  const authUrl = `http://127.0.0.1:${authPort}`;
  const chatUrls = chatPorts.map((p) => `http://127.0.0.1:${p}`);

  const baseEnv: NodeJS.ProcessEnv = {
    ...env,
    HOST: '127.0.0.1',
    LOG_LEVEL: logLevel,
    ...options.env,
  };
  const common = { cwd: REPO_ROOT, verbose, readyTimeoutMs, stopTimeoutMs };
  const serviceCommand = (service: 'auth' | 'chat') =>
    options.useBuild
      ? { command: process.execPath, args: [join(REPO_ROOT, `services/${service}/dist/main.js`)] }
      : {
          command: process.execPath,
          args: [
            '--conditions=source',
            '--import',
            'tsx',
            join(REPO_ROOT, `services/${service}/src/main.ts`),
          ],
        };

  const auth = new ServiceProcess({
    ...common,
    ...serviceCommand('auth'),
    name: 'auth',
    logFile: join(logDir, 'auth.log'),
    readyUrl: `${authUrl}/api/auth/ready`,
    env: {
      ...baseEnv,
      PORT: String(authPort),
      DATA_DIR: options.authDataDir ?? join(workDir, 'auth'),
      DATABASE_URL: databaseUrl,
      ...options.authEnv,
    },
  });
  const origins = [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
  const replicas = chatPorts.map((chatPort, index) => {
    const extra = typeof options.replicaEnv === 'function' ? options.replicaEnv(index) : options.replicaEnv;
    return new ServiceProcess({
      ...common,
      ...serviceCommand('chat'),
      name: `chat-${index + 1}`,
      logFile: join(logDir, `chat-${index + 1}.log`),
      readyUrl: `http://127.0.0.1:${chatPort}/api/chat/ready`,
      env: {
        ...baseEnv,
        PORT: String(chatPort),
        DATA_DIR: join(workDir, `chat-${index + 1}`),
        MESSAGE_STORE_URL: messageStoreUrl,
        REDIS_URL: options.redisClusterNodes ? undefined : redisUrl,
        REDIS_CLUSTER_NODES: options.redisClusterNodes?.join(','),
        REDIS_PREFIX: redisPrefix,
        AUTH_JWKS_URL: `${authUrl}/api/auth/jwks.json`,
        ALLOWED_ORIGINS: origins.join(','),
        // Non-browser clients (SDK in Node, the load tester) send no Origin.
        ALLOW_NO_ORIGIN: 'true',
        TRUST_PROXY: 'true',
        REPLICA_ID: `chat-${index + 1}`,
        ...extra,
      },
    });
  });

  const webRoot = options.webRoot ?? (existsSync(join(WEB_DIST, 'index.html')) ? WEB_DIST : undefined);
  const servedRoot = webRoot ?? writePlaceholder(workDir);
  const nginx = new ServiceProcess({
    ...common,
    name: 'nginx',
    command: options.nginxBin ?? findNginx(),
    args: ['-p', join(workDir, 'nginx'), '-c', join(workDir, 'nginx', 'nginx.conf'), '-g', 'daemon off;'],
    env: baseEnv,
    logFile: join(logDir, 'nginx.log'),
    readyUrl: `${url}/healthz`,
    lastResortSignal: 'SIGTERM',
  });
  writeNginxConfig(workDir, {
    port,
    webRoot: servedRoot,
    authPort,
    chatPorts,
    verbose,
    logDir,
  });

  let stopped = false;
  let keepWorkDir = options.keepWorkDir ?? false;
  const all = [nginx, ...replicas, auth];
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Front first (no new work), then the replicas (they close sockets with 1012), then auth.
    await nginx.stop();
    await Promise.all(replicas.map((replica) => replica.stop()));
    await auth.stop();
    for (const child of all) live.delete(child);
    if (!keepWorkDir) rmSync(workDir, { recursive: true, force: true });
  };

  installExitHook();
  for (const child of all) live.add(child);
  try {
    // Chat's readiness does not need auth (keys are fetched on the first token), and the
    // stores' migrations take a database lock: everything starts at once.
    const started = await Promise.allSettled([auth.start(), ...replicas.map((replica) => replica.start())]);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    await nginx.start();
  } catch (err) {
    keepWorkDir = true; // keep the logs the error points at
    await stop();
    throw err;
  }

  return {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/ws`,
    authUrl,
    chatUrls,
    auth,
    replicas,
    nginx,
    workDir,
    logDir,
    databaseUrl,
    messageStoreUrl,
    redisUrl,
    redisClusterNodes: options.redisClusterNodes,
    redisPrefix,
    servesWebClient: webRoot !== undefined,
    stop,
  };
}

interface NginxLayout {
  port: number;
  webRoot: string;
  authPort: number;
  chatPorts: number[];
  verbose: boolean;
  logDir: string;
}

function writeNginxConfig(workDir: string, layout: NginxLayout): void {
  const nginxDir = join(workDir, 'nginx');
  const tempDir = join(nginxDir, 'temp');
  mkdirSync(tempDir, { recursive: true });
  chmodSync(nginxDir, 0o755);
  chmodSync(tempDir, 0o755);
  let mimeTypes = defaultMimeTypesPath();
  if (!mimeTypes) {
    mimeTypes = join(nginxDir, 'mime.types');
    writeFileSync(mimeTypes, MINIMAL_MIME_TYPES);
  }
  const config = renderNginxConfig({
    listen: `127.0.0.1:${layout.port}`,
    webRoot: layout.webRoot,
    authServers: [`127.0.0.1:${layout.authPort}`],
    chatServers: layout.chatPorts.map((p) => `127.0.0.1:${p}`),
    pidFile: join(nginxDir, 'nginx.pid'),
    errorLog: layout.verbose ? 'stderr' : join(layout.logDir, 'nginx-error.log'),
    accessLog: layout.verbose ? '/dev/stdout' : join(layout.logDir, 'nginx-access.log'),
    tempDir,
    mimeTypes,
    workerProcesses: 1,
  });
  writeFileSync(join(nginxDir, 'nginx.conf'), config);
}

/** A page served at / when the web client is not built, saying how to build it. */
function writePlaceholder(workDir: string): string {
  const dir = join(workDir, 'placeholder');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>relay-chat</title></head>' +
      '<body><h1>relay-chat cluster</h1><p>The web client is not built: run ' +
      '<code>npm run build -w @relay-chat/web</code> and start the cluster again. ' +
      'The API answers at <code>/api/auth/</code>, <code>/api/chat/</code> and <code>/ws</code>.</p></body></html>\n',
  );
  return dir;
}

function findNginx(): string {
  return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
}

// A launcher that exits without stop() (an uncaught error, process.exit in a test worker)
// still takes its children with it.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.killNow();
  });
}
