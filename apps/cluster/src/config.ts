import {
  type Env,
  envBool,
  envInt,
  envList,
  envLogLevel,
  envString,
  envUrl,
  freeze,
  type LogLevel,
} from '@relay-chat/service-kit';

/** What `npm run cluster` reads from its environment (the services read their own). */
export interface ClusterLaunchConfig {
  /** Chat replicas, each its own process (CHAT_REPLICAS, default 3). */
  replicas: number;
  /** nginx's port (PORT, default 8080). */
  port: number;
  /** Users database (DATABASE_URL); the launcher's default when absent. */
  databaseUrl: string | undefined;
  /** Message store (MESSAGE_STORE_URL); the users database when absent. */
  messageStoreUrl: string | undefined;
  redisUrl: string | undefined;
  /** REDIS_CLUSTER_NODES: seeds of an existing Redis Cluster for the replicas' bus and presence. */
  redisClusterNodes: string[] | undefined;
  /** `--redis-cluster` (or CLUSTER_REDIS_CLUSTER=true): start a private Redis Cluster (3 masters + 3 replicas) for this run. */
  startRedisCluster: boolean;
  redisPrefix: string | undefined;
  logLevel: LogLevel;
  /** Children log to this terminal instead of files (CLUSTER_VERBOSE). */
  verbose: boolean;
  /** Run dist/ instead of the TypeScript sources (CLUSTER_USE_BUILD). */
  useBuild: boolean;
  /** Keep the work directory after stopping (CLUSTER_KEEP_WORKDIR). */
  keepWorkDir: boolean;
  /** nginx binary (NGINX_BIN); the launcher finds Debian's when absent. */
  nginxBin: string | undefined;
}

export function loadClusterLaunchConfig(
  env: Env,
  argv: readonly string[] = [],
): Readonly<ClusterLaunchConfig> {
  const seeds = envList(env, 'REDIS_CLUSTER_NODES').map((s) => (s.includes('://') ? s : `redis://${s}`));
  return freeze({
    replicas: envInt(env, 'CHAT_REPLICAS', 3, { min: 1, max: 64 }),
    port: envInt(env, 'PORT', 8080, { min: 0, max: 65_535 }),
    databaseUrl: envUrl(env, 'DATABASE_URL', ['postgres', 'postgresql']),
    messageStoreUrl: envUrl(env, 'MESSAGE_STORE_URL', [
      'sqlite',
      'postgres',
      'postgresql',
      'mongodb',
      'mongodb+srv',
    ]),
    redisUrl: envUrl(env, 'REDIS_URL', ['redis', 'rediss']),
    redisClusterNodes: seeds.length > 0 ? seeds : undefined,
    startRedisCluster: argv.includes('--redis-cluster') || envBool(env, 'CLUSTER_REDIS_CLUSTER', false),
    redisPrefix: envString(env, 'REDIS_PREFIX'),
    logLevel: envLogLevel(env),
    verbose: envBool(env, 'CLUSTER_VERBOSE', false),
    useBuild: envBool(env, 'CLUSTER_USE_BUILD', false),
    keepWorkDir: envBool(env, 'CLUSTER_KEEP_WORKDIR', false),
    nginxBin: envString(env, 'NGINX_BIN'),
  });
}
