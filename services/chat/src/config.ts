import { hostname } from 'node:os';
import { join } from 'node:path';
import { LIMITS } from '@relay-chat/protocol';
import {
  ConfigError,
  type Env,
  envBool,
  envInt,
  envList,
  envString,
  envUrl,
  freeze,
} from '@relay-chat/service-kit';

/** The chat service's configuration: read once from the environment, validated, frozen. */
export interface ChatConfig {
  /** Listen address of the standalone service (default 127.0.0.1:8002). */
  host: string;
  port: number;
  /** Directory of embedded SQLite files (default ./data). */
  dataDir: string;
  /** `sqlite:…`, `postgres://…` or `mongodb://…` (default sqlite:<dataDir>/chat.db). */
  messageStoreUrl: string;
  /** Redis for the bus and presence; absent → in-process bus (one process only). */
  redisUrl: string | undefined;
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
  /** Messages a user may send per second, sustained, and as a burst (default 30 / 60). */
  sendRatePerSec: number;
  sendBurst: number;
  /** Interval of WebSocket pings, ms (default 25 000); a peer silent for two intervals is closed. */
  heartbeatMs: number;
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
  /** This replica's id (presence, logs); default host-pid. */
  replicaId: string;
  logLevel: string;
  trustProxy: boolean;
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
  return freeze({
    host: envString(env, 'HOST', '127.0.0.1'),
    port: envInt(env, 'PORT', 8002, { min: 0, max: 65_535 }),
    dataDir,
    messageStoreUrl:
      envUrl(env, 'MESSAGE_STORE_URL', ['sqlite', 'postgres', 'postgresql', 'mongodb', 'mongodb+srv']) ??
      `sqlite:${join(dataDir, 'chat.db')}`,
    redisUrl: envUrl(env, 'REDIS_URL', ['redis', 'rediss']),
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
    sendBurst: envInt(env, 'SEND_BURST', sendRatePerSec * 2, { min: 1 }),
    heartbeatMs: envInt(env, 'HEARTBEAT_MS', 25_000, { min: 100, max: 30_000 }),
    flushIntervalMs: envInt(env, 'FLUSH_INTERVAL_MS', 2, { min: 0, max: 50 }),
    reorderWindowMs: envInt(env, 'REORDER_WINDOW_MS', 200, { min: 0, max: 1000 }),
    replicaId: envString(env, 'REPLICA_ID', `${hostname()}-${process.pid}`),
    logLevel: envString(env, 'LOG_LEVEL', 'info'),
    trustProxy: envBool(env, 'TRUST_PROXY', false),
  });
}
