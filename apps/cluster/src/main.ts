/**
 * `npm run cluster`: auth, N chat replicas (CHAT_REPLICAS, default 3) and nginx on this
 * machine against the local PostgreSQL and Redis, until Ctrl-C or SIGTERM.
 *
 * Environment: PORT (nginx, default 8080), CHAT_REPLICAS, DATABASE_URL, MESSAGE_STORE_URL,
 * REDIS_URL or REDIS_CLUSTER_NODES (a Redis Cluster's seeds), REDIS_PREFIX, LOG_LEVEL, CLUSTER_VERBOSE=true (children log to this terminal),
 * CLUSTER_USE_BUILD=true (run dist/ instead of the TypeScript sources), CLUSTER_KEEP_WORKDIR=true;
 * read once by config.ts.
 *
 * `npm run cluster -- --redis-cluster` starts a private Redis Cluster (3 masters + 3
 * replicas from the machine's redis-server, on free loopback ports, nothing persisted) and
 * runs the replicas on it with sharded pub/sub, in place of the single Redis.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type PrivateRedisCluster, startPrivateRedisCluster } from '@relay-chat/testkit';
import { type Cluster, REPO_ROOT, startCluster, WEB_DIST } from './cluster.js';
import { loadClusterLaunchConfig } from './config.js';

function buildWebClientIfMissing(): void {
  if (existsSync(join(WEB_DIST, 'index.html'))) return;
  console.log('Building the web client (apps/web/dist is missing)…');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['run', 'build', '-w', '@relay-chat/web'], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });
  if (result.status !== 0) console.warn('The web client did not build; serving a placeholder page at /.');
}

async function main(): Promise<void> {
  const config = loadClusterLaunchConfig(process.env, process.argv.slice(2));
  const replicas = config.replicas;
  buildWebClientIfMissing();

  let cluster: Cluster | undefined;
  let redisCluster: PrivateRedisCluster | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the cluster…`);
    await cluster?.stop();
    await redisCluster?.remove();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  let redisClusterNodes = config.redisClusterNodes;
  if (config.startRedisCluster) {
    console.log('Starting a private Redis Cluster (3 masters + 3 replicas)…');
    redisCluster = await startPrivateRedisCluster();
    redisClusterNodes = redisCluster.seeds;
  }
  console.log(`Starting auth, ${replicas} chat replica(s) and nginx…`);
  cluster = await startCluster({
    replicas,
    port: config.port,
    ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
    ...(config.messageStoreUrl ? { messageStoreUrl: config.messageStoreUrl } : {}),
    ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
    ...(redisClusterNodes ? { redisClusterNodes } : {}),
    ...(config.redisPrefix ? { redisPrefix: config.redisPrefix } : {}),
    logLevel: config.logLevel,
    verbose: config.verbose,
    useBuild: config.useBuild,
    // One signing key across restarts, so browser sessions survive a restart of the cluster.
    authDataDir: join(REPO_ROOT, 'data', 'cluster'),
    keepWorkDir: config.keepWorkDir,
    ...(config.nginxBin ? { nginxBin: config.nginxBin } : {}),
  });
  if (stopping) return;

  const lines = [
    '',
    `relay-chat cluster is up: ${cluster.url}${cluster.servesWebClient ? '' : '  (placeholder page: web client not built)'}`,
    `  WebSocket      ${cluster.wsUrl}`,
    `  auth           ${cluster.authUrl}  (API docs: ${cluster.authUrl}/api/auth/docs)`,
    ...cluster.chatUrls.map((url, i) => `  chat-${i + 1}         ${url}  (API docs: ${url}/api/chat/docs)`),
    `  databases      users ${redact(cluster.databaseUrl)}, messages ${redact(cluster.messageStoreUrl)}`,
    cluster.redisClusterNodes
      ? `  redis cluster  ${cluster.redisClusterNodes.map(redact).join(' ')} prefix "${cluster.redisPrefix}"${redisCluster ? ' (private, removed on exit)' : ''}`
      : `  redis          ${redact(cluster.redisUrl)} prefix "${cluster.redisPrefix}"`,
    config.verbose ? '' : `  logs           ${cluster.logDir}`,
    '',
    'Ctrl-C stops everything.',
  ];
  console.log(lines.join('\n'));
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
