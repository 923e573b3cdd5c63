import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  type DatabaseLimits,
  DEFAULT_INTERNAL_NETWORKS,
  type Env,
  envDatabaseLimits,
  envInt,
  envLogLevel,
  envNetworks,
  envString,
  envTrustProxy,
  envUrl,
  freeze,
  type LogLevel,
} from '@relay-chat/service-kit';

/** The auth service's configuration: read once from the environment, validated, frozen. */
export interface AuthConfig {
  /** Standalone server port. PORT, default 8001 (the embedded launcher uses its own). */
  port: number;
  /** Standalone listen address. HOST, default 127.0.0.1. */
  host: string;
  /** Directory of embedded files (SQLite database, generated signing key). DATA_DIR, default ./data. */
  dataDir: string;
  /** `sqlite:<path>` or `postgres://…`. DATABASE_URL, default `sqlite:<DATA_DIR>/auth.db`. */
  databaseUrl: string;
  /** `iss` of access tokens. JWT_ISSUER, default relay-chat. */
  issuer: string;
  /** `aud` of access tokens. JWT_AUDIENCE, default relay-chat. */
  audience: string;
  /** Access-token life, seconds. ACCESS_TOKEN_TTL_SEC, default 900 (15 minutes). */
  accessTokenTtlSec: number;
  /** Refresh-token life, seconds. REFRESH_TOKEN_TTL_SEC, default 2592000 (30 days). */
  refreshTokenTtlSec: number;
  /**
   * How long after a refresh token is spent a second refresh with it still succeeds (two tabs
   * refreshing at once) instead of counting as reuse, seconds. REFRESH_GRACE_SEC, default 10.
   */
  refreshGraceSec: number;
  /**
   * Ed25519 private key, PKCS#8 PEM (AUTH_SIGNING_KEY). Absent: a key is generated at first start
   * and kept in `signingKeyFile`.
   */
  signingKeyPem: string | undefined;
  /** Where the generated key lives when AUTH_SIGNING_KEY is absent: `<DATA_DIR>/auth-signing-key.pem`. */
  signingKeyFile: string;
  /** The previous Ed25519 public key, SPKI PEM (AUTH_PREVIOUS_PUBLIC_KEY), still published during a rotation. */
  previousPublicKeyPem: string | undefined;
  /**
   * Secret that signs device cookies (AUTH_DEVICE_COOKIE_KEY, at least 32 characters), shared by
   * every replica. Absent: derived from the signing key.
   */
  deviceCookieKey: string | undefined;
  /**
   * Registrations admitted per client address in any sliding hour. REGISTER_PER_ADDRESS_PER_HOUR,
   * default 20. Test harnesses that register many users from one address raise it.
   */
  registerPerAddressPerHour: number;
  /** Registrations admitted over all addresses in any sliding hour. REGISTER_PER_HOUR, default 1000. */
  registerPerHour: number;
  /**
   * Password hashes (scrypt) computed at once by this process. PASSWORD_HASH_CONCURRENCY,
   * default one less than the cores (at least 1): hashing never takes every core from the
   * event loops that carry messages.
   */
  passwordHashConcurrency: number;
  /**
   * Logins (password verifications) allowed to wait for a hashing slot; one more is answered
   * 429 rate_limited. LOGIN_HASH_QUEUE_MAX, default 32 × PASSWORD_HASH_CONCURRENCY.
   */
  loginHashQueueMax: number;
  /**
   * Registrations allowed to wait for a hashing slot (served after every waiting login); one
   * more is answered 429 rate_limited. REGISTER_HASH_QUEUE_MAX, default 4 × PASSWORD_HASH_CONCURRENCY.
   */
  /**
   * Longest expected wait of a registration for a hashing slot, ms; one that would wait
   * longer is refused at once with 429. REGISTER_HASH_MAX_WAIT_MS, default 2000.
   */
  /**
   * Delay of a registration refused for its pace (the per-address or overall bound, or no
   * hashing slot soon), ms: it answers 429 after it, so a looping client is slowed down.
   * REGISTER_REFUSAL_DELAY_MS, default 1000.
   */
  registerRefusalDelayMs: number;
  registerHashMaxWaitMs: number;
  registerHashQueueMax: number;
  /** pino level. LOG_LEVEL, default info. */
  logLevel: LogLevel;
  /**
   * Proxies whose X-Forwarded-For is trusted (TRUST_PROXY): `true`, `false`, or a comma-separated
   * list of addresses/CIDRs. Absent: loopback only.
   */
  trustProxy: boolean | string[] | undefined;
  /** Waits and timeouts of the PostgreSQL pool (DB_ACQUIRE_TIMEOUT_MS, DB_QUERY_TIMEOUT_MS, …). */
  databaseLimits: Readonly<DatabaseLimits>;
  /** Networks whose direct requests may read /metrics and /internal/ routes (INTERNAL_NETWORKS). */
  internalNetworks: string[];
}

/** Reads and validates the auth configuration; throws ConfigError naming the first bad variable. */
export function loadAuthConfig(env: Env = process.env): Readonly<AuthConfig> {
  const dataDir = envString(env, 'DATA_DIR', './data');
  const databaseUrl = envUrl(env, 'DATABASE_URL', ['sqlite', 'postgres', 'postgresql']);
  const issuer = envString(env, 'JWT_ISSUER', 'relay-chat');
  const audience = envString(env, 'JWT_AUDIENCE', 'relay-chat');
  const passwordHashConcurrency = envInt(
    env,
    'PASSWORD_HASH_CONCURRENCY',
    Math.max(1, availableParallelism() - 1),
    {
      min: 1,
      max: 256,
    },
  );
  const config: AuthConfig = {
    port: envInt(env, 'PORT', 8001, { min: 0, max: 65535 }),
    host: envString(env, 'HOST', '127.0.0.1'),
    dataDir,
    databaseUrl: databaseUrl ?? `sqlite:${join(dataDir, 'auth.db')}`,
    issuer,
    audience,
    accessTokenTtlSec: envInt(env, 'ACCESS_TOKEN_TTL_SEC', 900, { min: 30, max: 24 * 3600 }),
    refreshTokenTtlSec: envInt(env, 'REFRESH_TOKEN_TTL_SEC', 30 * 24 * 3600, {
      min: 60,
      max: 365 * 24 * 3600,
    }),
    refreshGraceSec: envInt(env, 'REFRESH_GRACE_SEC', 10, { min: 0, max: 60 }),
    signingKeyPem: pemOf(env, 'AUTH_SIGNING_KEY', 'private'),
    signingKeyFile: join(dataDir, 'auth-signing-key.pem'),
    previousPublicKeyPem: pemOf(env, 'AUTH_PREVIOUS_PUBLIC_KEY', 'public'),
    deviceCookieKey: secretOf(env, 'AUTH_DEVICE_COOKIE_KEY'),
    registerPerAddressPerHour: envInt(env, 'REGISTER_PER_ADDRESS_PER_HOUR', 20, { min: 1, max: 1e9 }),
    registerPerHour: envInt(env, 'REGISTER_PER_HOUR', 1000, { min: 1, max: 1e9 }),
    passwordHashConcurrency,
    loginHashQueueMax: envInt(env, 'LOGIN_HASH_QUEUE_MAX', 32 * passwordHashConcurrency, {
      min: 0,
      max: 1e6,
    }),
    registerRefusalDelayMs: envInt(env, 'REGISTER_REFUSAL_DELAY_MS', 1000, { min: 0, max: 60_000 }),
    registerHashMaxWaitMs: envInt(env, 'REGISTER_HASH_MAX_WAIT_MS', 2000, { min: 0, max: 600_000 }),
    registerHashQueueMax: envInt(env, 'REGISTER_HASH_QUEUE_MAX', 4 * passwordHashConcurrency, {
      min: 0,
      max: 1e6,
    }),
    logLevel: envLogLevel(env),
    trustProxy: envTrustProxy(env),
    databaseLimits: envDatabaseLimits(env),
    internalNetworks: envNetworks(env, 'INTERNAL_NETWORKS', DEFAULT_INTERNAL_NETWORKS),
  };
  return freeze(config);
}

/** An Ed25519 key in PEM; `\n` escapes (one-line env files) are accepted. */
function pemOf(env: Env, name: string, kind: 'private' | 'public'): string | undefined {
  const value = envString(env, name);
  if (value === undefined) return undefined;
  const pem = `${value.replace(/\\n/g, '\n').trim()}\n`;
  if (kind === 'public' && pem.includes('PRIVATE KEY')) {
    throw new ConfigError(name, 'must be a public key (SPKI PEM), not a private key');
  }
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch {
    throw new ConfigError(
      name,
      `is not a ${kind === 'private' ? 'PKCS#8 private' : 'SPKI public'} key in PEM`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError(name, `must be an Ed25519 key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  return pem;
}

/** A symmetric secret: at least 32 characters (e.g. `openssl rand -base64 32`). */
function secretOf(env: Env, name: string): string | undefined {
  const value = envString(env, name);
  if (value === undefined) return undefined;
  if (value.length < 32) {
    throw new ConfigError(name, `must be at least 32 characters (got ${value.length})`);
  }
  return value;
}
