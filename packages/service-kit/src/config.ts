import { parseCidr } from './internal-networks.js';
import { type DatabaseLimits, DEFAULT_DATABASE_LIMITS } from './postgres-pool.js';

/**
 * Readers for environment configuration. Only a service's `config.ts` calls these; a bad
 * value throws a ConfigError that names the variable, and start-up stops there.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function envString(env: Env, name: string, fallback: string): string;
export function envString(env: Env, name: string): string | undefined;
export function envString(env: Env, name: string, fallback?: string): string | undefined {
  return raw(env, name) ?? fallback;
}

export function envInt(
  env: Env,
  name: string,
  fallback: number,
  range: { min?: number; max?: number } = {},
): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^-?\d+$/.test(value)) throw new ConfigError(name, `must be an integer, got "${value}"`);
  const n = Number(value);
  if (range.min !== undefined && n < range.min)
    throw new ConfigError(name, `must be ≥ ${range.min}, got ${n}`);
  if (range.max !== undefined && n > range.max)
    throw new ConfigError(name, `must be ≤ ${range.max}, got ${n}`);
  return n;
}

/** The one reading of a boolean setting: 1/true/yes/on or 0/false/no/off (any case); undefined otherwise. */
function booleanOf(value: string): boolean | undefined {
  const lower = value.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
  if (['0', 'false', 'no', 'off'].includes(lower)) return false;
  return undefined;
}

export function envBool(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const parsed = booleanOf(value);
  if (parsed === undefined) throw new ConfigError(name, `must be true or false, got "${value}"`);
  return parsed;
}

/**
 * TRUST_PROXY: whose X-Forwarded-* headers to believe — `true`, `false`, or a list of
 * addresses/CIDRs (nginx's); undefined when unset (Fastify's loopback default applies).
 */
export function envTrustProxy(env: Env, name = 'TRUST_PROXY'): boolean | string[] | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  const parsed = booleanOf(value);
  if (parsed !== undefined) return parsed;
  const list = envList(env, name);
  for (const entry of list) {
    if (!/^[0-9a-f.:]+(\/\d{1,3})?$/i.test(entry)) {
      throw new ConfigError(name, `must be true, false or a list of addresses/CIDRs, got "${entry}"`);
    }
  }
  return list;
}

export function envEnum<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

/** A URL whose scheme is one of `schemes` (without the colon). */
export function envUrl(
  env: Env,
  name: string,
  schemes: readonly string[],
  fallback?: string,
): string | undefined {
  const value = raw(env, name) ?? fallback;
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (!schemes.includes(scheme)) throw new ConfigError(name, `scheme must be one of ${schemes.join(', ')}`);
  return value;
}

/** A comma-separated list. */
export function envList(env: Env, name: string, fallback: readonly string[] = []): string[] {
  const value = raw(env, name);
  if (value === undefined) return [...fallback];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** A comma-separated list of IP addresses or CIDRs (`10.0.0.0/8`, `::1`), each checked. */
export function envNetworks(env: Env, name: string, fallback: readonly string[]): string[] {
  const list = envList(env, name, fallback);
  for (const entry of list) {
    if (!parseCidr(entry)) throw new ConfigError(name, `must list addresses or CIDRs, got "${entry}"`);
  }
  return list;
}

/**
 * The PostgreSQL wait bounds of every pool a service opens: DB_ACQUIRE_TIMEOUT_MS (default
 * 500), DB_QUERY_TIMEOUT_MS (1400), DB_STATEMENT_TIMEOUT_MS (500 ms less than the query
 * timeout, at most half of it less; 0 = none) and DB_MAX_WAITING (500).
 */
export function envDatabaseLimits(env: Env): Readonly<DatabaseLimits> {
  const defaults = DEFAULT_DATABASE_LIMITS;
  const acquireTimeoutMs = envInt(env, 'DB_ACQUIRE_TIMEOUT_MS', defaults.acquireTimeoutMs, {
    min: 50,
    max: 60_000,
  });
  const queryTimeoutMs = envInt(env, 'DB_QUERY_TIMEOUT_MS', defaults.queryTimeoutMs, {
    min: 100,
    max: 600_000,
  });
  const statementTimeoutMs = envInt(
    env,
    'DB_STATEMENT_TIMEOUT_MS',
    queryTimeoutMs - Math.min(500, Math.floor(queryTimeoutMs / 2)),
    { min: 0, max: 600_000 },
  );
  if (statementTimeoutMs >= queryTimeoutMs) {
    throw new ConfigError(
      'DB_STATEMENT_TIMEOUT_MS',
      `must be below DB_QUERY_TIMEOUT_MS (${queryTimeoutMs}), got ${statementTimeoutMs}`,
    );
  }
  const maxWaiting = envInt(env, 'DB_MAX_WAITING', defaults.maxWaiting, { min: 0, max: 100_000 });
  return Object.freeze({ acquireTimeoutMs, queryTimeoutMs, statementTimeoutMs, maxWaiting });
}

/** Deep-freezes a config object so nothing changes it after start-up. */
export function freeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const key of Object.keys(value)) freeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}
