import { fileURLToPath } from 'node:url';
import {
  DEFAULT_INTERNAL_NETWORKS,
  type Env,
  envBool,
  envInt,
  envLogLevel,
  envNetworks,
  envString,
  freeze,
  type LogLevel,
} from '@relay-chat/service-kit';

/** The embedded launcher's own settings; auth and chat read theirs from the same environment. */
export interface ServerConfig {
  /** Listen address (default 127.0.0.1) and port (default 8080). */
  host: string;
  port: number;
  /** Directory of the built web client (default apps/web/dist); served at / when present. */
  webDir: string;
  logLevel: LogLevel;
  /** Log one line per HTTP request (default false). */
  logRequests: boolean;
  /**
   * Addresses or CIDRs whose direct requests may reach the internal routes (metrics,
   * /internal/). INTERNAL_NETWORKS, default loopback, RFC 1918 and fc00::/7.
   */
  internalNetworks: string[];
}

export function loadServerConfig(env: Env): Readonly<ServerConfig> {
  return freeze({
    host: envString(env, 'HOST', '127.0.0.1'),
    port: envInt(env, 'PORT', 8080, { min: 0, max: 65_535 }),
    webDir: envString(env, 'WEB_DIR', fileURLToPath(new URL('../../web/dist', import.meta.url))),
    logLevel: envLogLevel(env),
    logRequests: envBool(env, 'LOG_REQUESTS', false),
    internalNetworks: envNetworks(env, 'INTERNAL_NETWORKS', DEFAULT_INTERNAL_NETWORKS),
  });
}

/**
 * The environment the embedded services see: the same variables, with embedded defaults —
 * the browser origins of this server are allowed, and non-browser clients (SDK, bench) too.
 */
export function embeddedEnv(env: Env, port: number): Env {
  const origins = [`http://localhost:${port}`, `http://127.0.0.1:${port}`];
  return {
    ...env,
    ALLOWED_ORIGINS: env.ALLOWED_ORIGINS ?? origins.join(','),
    ALLOW_NO_ORIGIN: env.ALLOW_NO_ORIGIN ?? 'true',
  };
}
