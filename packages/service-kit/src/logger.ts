import { type Logger, pino } from 'pino';
import { type Env, envEnum } from './config.js';

export type { Logger };

/** The levels `LOG_LEVEL` may name (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `LOG_LEVEL`, checked against LOG_LEVELS (a bad value stops start-up and names the variable). */
export function envLogLevel(env: Env, fallback: LogLevel = 'info'): LogLevel {
  return envEnum(env, 'LOG_LEVEL', LOG_LEVELS, fallback);
}

/**
 * Paths that must never reach a log line: credentials, tokens and message bodies.
 * Fastify's request serializer logs neither headers nor bodies; this guards the rest.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["sec-websocket-protocol"]',
  'headers.authorization',
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'body',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.body',
];

export interface LoggerOptions {
  /** Service name, the `svc` field of every line. */
  name: string;
  /** pino level; default `info` (`silent` in tests). */
  level?: string;
}

/** JSON logs on stdout with secrets redacted. */
export function createLogger({ name, level = 'info' }: LoggerOptions): Logger {
  return pino({
    level,
    base: { svc: name, pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
