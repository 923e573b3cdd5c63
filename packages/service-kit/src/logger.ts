import { type Logger, pino } from 'pino';

export type { Logger };

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
