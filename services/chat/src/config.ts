import { hostname } from 'node:os';
import { join } from 'node:path';
import { LIMITS, normalizeName } from '@relay-chat/protocol';
import {
  ConfigError,
  type DatabaseLimits,
  DEFAULT_INTERNAL_NETWORKS,
  type Env,
  envBool,
  envDatabaseLimits,
  envEnum,
  envInt,
  envList,
  envLogLevel,
  envNetworks,
  envString,
  envTrustProxy,
  envUrl,
  freeze,
  type LogLevel,
} from '@relay-chat/service-kit';
import type { RedisTarget } from './bus/redis-target.js';

/** Where a SQLite message store runs its transactions (SQLITE_STORE_THREAD). */
export const SQLITE_STORE_THREADS = ['worker', 'main'] as const;
export type SqliteStoreThread = (typeof SQLITE_STORE_THREADS)[number];

/** Whether appends are indexed for message search (SEARCH_INDEX). */
export const SEARCH_INDEX_MODES = ['on', 'off'] as const;

/** The chat service's configuration: read once from the environment, validated, frozen. */
export interface ChatConfig {
  /** Listen address of the standalone service (default 127.0.0.1:8002). */
  host: string;
  port: number;
  /** Directory of embedded SQLite files (default ./data). */
  dataDir: string;
  /** `sqlite:…`, `postgres://…` or `mongodb://…` (default sqlite:<dataDir>/chat.db). */
  messageStoreUrl: string;
  /**
   * Where a `sqlite:` store runs its transactions (SQLITE_STORE_THREAD): `worker` (default),
   * a worker thread of its own, so that no commit (and its fsync) blocks the thread that
   * writes to the sockets; or `main`, in-thread (for comparison).
   */
  sqliteStoreThread: SqliteStoreThread;
  /**
   * SEARCH_INDEX: `on` (default) indexes every message for search; `off` stores messages
   * without indexing them and answers message search with `forbidden` (sqlite: and
   * postgres stores), for operators who do not want message text indexed, and to measure
   * what indexing costs. Edits and deletes still keep what is indexed true; turned on again,
   * the store first indexes what was stored meanwhile.
   */
  searchIndex: boolean;
  /**
   * Redis for the bus, presence and budgets: REDIS_URL (one Redis), or the seed node URLs of
   * REDIS_CLUSTER_NODES (Redis Cluster ≥ 7, sharded pub/sub); absent → in-process bus (one
   * process only).
   */
  redisUrl: RedisTarget | undefined;
  /** Prefix of every Redis key and channel (default `relay:`). */
  redisPrefix: string;
  /** Where the auth service publishes its public keys; absent in embedded mode (keys passed in-process). */
  authJwksUrl: string | undefined;
  /** Base URL of the auth service, for user look-ups (default: the origin of authJwksUrl). */
  authUrl: string | undefined;
  jwtIssuer: string;
  jwtAudience: string;
  /** Exact-match allowlist of browser Origins for the WebSocket upgrade. */
  allowedOrigins: string[];
  /** Accept WebSocket upgrades without an Origin header (non-browser clients). */
  allowNoOrigin: boolean;
  /** Largest WebSocket frame, bytes (default 64 KiB; larger → close 1009). */
  maxFrameBytes: number;
  /** Unsent bytes on one socket before it is closed as a slow consumer (default 1 MiB). */
  maxBufferedBytes: number;
  /**
   * Messages a user may send per second, sustained, and as a burst (default 30 / 60): one
   * budget per user over all their sockets and REST on this replica, kept across reconnects.
   */
  sendRatePerSec: number;
  sendBurst: number;
  /**
   * Frames of any type one connection may send per second, sustained and as a burst,
   * counted as they arrive (default the larger of 50 / 100 and twice the send budget).
   * Frames over it are dropped with one `rate_limited` notice per `inboundNoticeMs`; a
   * connection that sends another whole burst after the notice is closed (1008).
   */
  inboundFramesPerSec: number;
  inboundBurst: number;
  /** Least time between two `rate_limited` notices to one connection, ms (default 1000). */
  inboundNoticeMs: number;
  /** Store look-ups per second one connection may cause for conversations it is not known to be in (default 5). */
  membershipLookupsPerSec: number;
  /** Least time between two forwarded typing events of one connection in one conversation, ms (default 1500). */
  typingIntervalMs: number;
  /** REST requests one user may make per second, sustained and at once (default 50 / 200). */
  restRatePerSec: number;
  restBurst: number;
  /** Message searches one user may make per second, sustained and at once (default 5 / 20). */
  searchRatePerSec: number;
  searchBurst: number;
  /** Searches one replica runs at once; one more is refused with a retryable 503 (default 8). */
  searchMaxInFlight: number;
  /**
   * Longest delay of a REST answer refused for pace (429), ms (default 1000): the answer
   * comes after the wait it announces, so a client looping on refusals is slowed down.
   */
  refusalDelayMs: number;
  /**
   * Every REST request is answered within this many ms (default 1500): one still waiting on
   * a dependency then gets 503 `unavailable` (0 = no deadline).
   */
  requestDeadlineMs: number;
  /** Open WebSocket connections one user may hold on one replica (default 20). */
  maxConnectionsPerUser: number;
  /** Conversations in `ready` and per page of `GET /conversations` (default 100). */
  conversationsPage: number;
  /** Most members of a group (default LIMITS.maxGroupMembers). */
  maxGroupMembers: number;
  /** Groups and channels one user may create per hour (GROUPS_PER_HOUR, default 30). */
  conversationsPerHour: number;
  /**
   * Public channels every new user joins on their first visit (DEFAULT_CHANNELS, comma-separated
   * names, default `general`; empty: none). The server creates a missing one on first need, with
   * no owner (createdBy SYSTEM_USER_ID: nobody can rename it); an existing channel of that name
   * is used as it is. Names follow the rules of channel names and are stored normalised.
   */
  defaultChannels: string[];
  /** How long a socket may stay above `maxBufferedBytes` before it is closed as a slow consumer, ms (default 2000). */
  slowConsumerGraceMs: number;
  /** How long a peer that does not complete the closing handshake keeps its socket, ms (default 5000). */
  closeTimeoutMs: number;
  /** Longest wait for the message broker while setting up a connection, ms (default 2000); then close 1013. */
  brokerWaitMs: number;
  /** Most messages one conversation holds back waiting for a missing seq (default 1024). */
  reorderMaxHeld: number;
  /** Most messages in one group commit (default 500). */
  appendBatchMax: number;
  /** Interval of WebSocket pings, ms (default 25 000); a peer silent for two intervals is closed. */
  heartbeatMs: number;
  /** How often sockets whose access token expired are looked for and closed, ms (default 1000). */
  tokenExpirySweepMs: number;
  /** Most usernames the chat service keeps in memory (default 100 000; the cache starts over when full). */
  userDirectoryMaxEntries: number;
  /**
   * Longest wait before queued frames are written, ms (default 2; 0 = at the end of the
   * event-loop turn). Every socket's frames of the window go out in one write, so fan-out
   * costs one kernel call per socket per window instead of one per message.
   */
  flushIntervalMs: number;
  /**
   * Longest a live message that arrived ahead of a missing seq is held for it, ms
   * (default 200; 0 = never). Two replicas' messages of one conversation can cross on the bus.
   */
  reorderWindowMs: number;
  /** Waits and timeouts of the PostgreSQL pool (DB_ACQUIRE_TIMEOUT_MS, DB_QUERY_TIMEOUT_MS, …). */
  databaseLimits: Readonly<DatabaseLimits>;
  /** Networks whose direct requests may read /metrics and /internal/ routes (INTERNAL_NETWORKS). */
  internalNetworks: string[];
  /** How often revocations (logouts, deleted accounts) are read from the auth service, ms (default 1000). */
  revocationPollMs: number;
  /** How long a revocation is remembered, ms: the longest access-token life (default 24 h). */
  revocationKeepMs: number;
  /** This replica's id (presence, logs); default host-pid. */
  replicaId: string;
  logLevel: LogLevel;
  /** Whose X-Forwarded-* headers to believe (TRUST_PROXY: true, false, or addresses/CIDRs). */
  trustProxy: boolean | string[] | undefined;
}

export function loadChatConfig(env: Env): Readonly<ChatConfig> {
  const dataDir = envString(env, 'DATA_DIR', './data');
  const authJwksUrl = envUrl(env, 'AUTH_JWKS_URL', ['http', 'https']);
  const authUrl =
    envUrl(env, 'AUTH_URL', ['http', 'https']) ?? (authJwksUrl ? new URL(authJwksUrl).origin : undefined);
  const allowedOrigins = envList(env, 'ALLOWED_ORIGINS');
  for (const origin of allowedOrigins) {
    if (!/^https?:\/\/[^/]+$/.test(origin)) {
      throw new ConfigError('ALLOWED_ORIGINS', `"${origin}" is not an origin like https://chat.example.com`);
    }
  }
  const sendRatePerSec = envInt(env, 'SEND_RATE_PER_SEC', 30, { min: 1, max: 100_000 });
  const sendBurst = envInt(env, 'SEND_BURST', sendRatePerSec * 2, { min: 1 });
  return freeze({
    host: envString(env, 'HOST', '127.0.0.1'),
    port: envInt(env, 'PORT', 8002, { min: 0, max: 65_535 }),
    dataDir,
    messageStoreUrl:
      envUrl(env, 'MESSAGE_STORE_URL', ['sqlite', 'postgres', 'postgresql', 'mongodb', 'mongodb+srv']) ??
      `sqlite:${join(dataDir, 'chat.db')}`,
    sqliteStoreThread: envEnum(env, 'SQLITE_STORE_THREAD', SQLITE_STORE_THREADS, 'worker'),
    searchIndex: envEnum(env, 'SEARCH_INDEX', SEARCH_INDEX_MODES, 'on') === 'on',
    redisUrl: redisTargetOf(env),
    redisPrefix: envString(env, 'REDIS_PREFIX', 'relay:'),
    authJwksUrl,
    authUrl,
    jwtIssuer: envString(env, 'JWT_ISSUER', 'relay-chat'),
    jwtAudience: envString(env, 'JWT_AUDIENCE', 'relay-chat'),
    allowedOrigins,
    allowNoOrigin: envBool(env, 'ALLOW_NO_ORIGIN', false),
    maxFrameBytes: envInt(env, 'MAX_FRAME_BYTES', LIMITS.maxFrameBytes, { min: 1024, max: 16 * 1024 * 1024 }),
    maxBufferedBytes: envInt(env, 'MAX_BUFFERED_BYTES', 1024 * 1024, { min: 16 * 1024 }),
    sendRatePerSec,
    sendBurst,
    inboundFramesPerSec: envInt(env, 'INBOUND_FRAMES_PER_SEC', Math.max(50, sendRatePerSec * 2), { min: 1 }),
    inboundBurst: envInt(env, 'INBOUND_BURST', Math.max(100, sendBurst * 2), { min: 1 }),
    inboundNoticeMs: envInt(env, 'INBOUND_NOTICE_MS', 1000, { min: 100, max: 60_000 }),
    membershipLookupsPerSec: envInt(env, 'MEMBERSHIP_LOOKUPS_PER_SEC', 5, { min: 1, max: 10_000 }),
    typingIntervalMs: envInt(env, 'TYPING_INTERVAL_MS', 1500, { min: 0, max: 60_000 }),
    restRatePerSec: envInt(env, 'REST_RATE_PER_SEC', 50, { min: 1, max: 1_000_000 }),
    restBurst: envInt(env, 'REST_BURST', 200, { min: 1, max: 1_000_000 }),
    searchRatePerSec: envInt(env, 'SEARCH_RATE_PER_SEC', 5, { min: 1, max: 1_000_000 }),
    searchBurst: envInt(env, 'SEARCH_BURST', 20, { min: 1, max: 1_000_000 }),
    searchMaxInFlight: envInt(env, 'SEARCH_MAX_IN_FLIGHT', 8, { min: 1, max: 10_000 }),
    requestDeadlineMs: envInt(env, 'REQUEST_DEADLINE_MS', 1500, { min: 0, max: 600_000 }),
    refusalDelayMs: envInt(env, 'REFUSAL_DELAY_MS', 1000, { min: 0, max: 60_000 }),
    maxConnectionsPerUser: envInt(env, 'MAX_CONNECTIONS_PER_USER', 20, { min: 1, max: 100_000 }),
    conversationsPage: envInt(env, 'CONVERSATIONS_PAGE', 100, { min: 10, max: 1000 }),
    maxGroupMembers: envInt(env, 'MAX_GROUP_MEMBERS', LIMITS.maxGroupMembers, {
      min: 2,
      max: LIMITS.maxGroupMembers,
    }),
    conversationsPerHour: envInt(env, 'GROUPS_PER_HOUR', 30, { min: 1, max: 1_000_000 }),
    defaultChannels: defaultChannelsOf(env),
    slowConsumerGraceMs: envInt(env, 'SLOW_CONSUMER_GRACE_MS', 2000, { min: 0, max: 60_000 }),
    closeTimeoutMs: envInt(env, 'CLOSE_TIMEOUT_MS', 5000, { min: 100, max: 60_000 }),
    brokerWaitMs: envInt(env, 'BROKER_WAIT_MS', 2000, { min: 100, max: 60_000 }),
    reorderMaxHeld: envInt(env, 'REORDER_MAX_HELD', 1024, { min: 1, max: 1_000_000 }),
    appendBatchMax: envInt(env, 'APPEND_BATCH_MAX', 500, { min: 1, max: 10_000 }),
    heartbeatMs: envInt(env, 'HEARTBEAT_MS', 25_000, { min: 100, max: 30_000 }),
    tokenExpirySweepMs: envInt(env, 'TOKEN_EXPIRY_SWEEP_MS', 1000, { min: 100, max: 60_000 }),
    userDirectoryMaxEntries: envInt(env, 'USER_DIRECTORY_MAX_ENTRIES', 100_000, {
      min: 100,
      max: 10_000_000,
    }),
    flushIntervalMs: envInt(env, 'FLUSH_INTERVAL_MS', 2, { min: 0, max: 50 }),
    reorderWindowMs: envInt(env, 'REORDER_WINDOW_MS', 200, { min: 0, max: 1000 }),
    databaseLimits: envDatabaseLimits(env),
    internalNetworks: envNetworks(env, 'INTERNAL_NETWORKS', DEFAULT_INTERNAL_NETWORKS),
    revocationPollMs: envInt(env, 'REVOCATION_POLL_MS', 1000, { min: 100, max: 60_000 }),
    revocationKeepMs: envInt(env, 'REVOCATION_KEEP_MS', 24 * 3600_000, { min: 60_000 }),
    replicaId: envString(env, 'REPLICA_ID', `${hostname()}-${process.pid}`),
    logLevel: envLogLevel(env),
    trustProxy: envTrustProxy(env),
  });
}

/**
 * REDIS_CLUSTER_NODES (comma-separated `host:port` or `redis://[user:password@]host:port`
 * seeds; the rest of the cluster is discovered) or REDIS_URL — not both.
 */
function redisTargetOf(env: Env): RedisTarget | undefined {
  const url = envUrl(env, 'REDIS_URL', ['redis', 'rediss']);
  const seeds = envList(env, 'REDIS_CLUSTER_NODES');
  if (seeds.length === 0) return url;
  if (url !== undefined)
    throw new ConfigError('REDIS_CLUSTER_NODES', 'set either REDIS_URL or REDIS_CLUSTER_NODES, not both');
  return seeds.map((seed) => {
    const withScheme = /^[a-z]+:\/\//.test(seed) ? seed : `redis://${seed}`;
    let parsed: URL;
    try {
      parsed = new URL(withScheme);
    } catch {
      throw new ConfigError('REDIS_CLUSTER_NODES', `"${seed}" is not host:port or a redis:// URL`);
    }
    if (!['redis:', 'rediss:'].includes(parsed.protocol) || !parsed.hostname || !parsed.port) {
      throw new ConfigError('REDIS_CLUSTER_NODES', `"${seed}" must be host:port or redis[s]://host:port`);
    }
    return withScheme;
  });
}

/** DEFAULT_CHANNELS: valid channel names, normalised, each once (case-insensitive); unset → `general`. */
function defaultChannelsOf(env: Env): string[] {
  // Set but empty turns the default channels off (envList would fall back to the default).
  if (env.DEFAULT_CHANNELS !== undefined && env.DEFAULT_CHANNELS.trim() === '') return [];
  const names: string[] = [];
  const keys = new Set<string>();
  for (const raw of envList(env, 'DEFAULT_CHANNELS', ['general'])) {
    const result = normalizeName(raw);
    if (!result.ok) throw new ConfigError('DEFAULT_CHANNELS', `"${raw}": ${result.problem}`);
    const key = result.name.toLowerCase();
    if (keys.has(key)) continue;
    keys.add(key);
    names.push(result.name);
  }
  if (names.length > 20) throw new ConfigError('DEFAULT_CHANNELS', 'at most 20 channels');
  return names;
}
