import { ChatError, toChatError } from '@relay-chat/protocol';

/**
 * Failures that mean "a dependency cannot answer right now" rather than "this request or
 * this code is wrong": the database or Redis refused, dropped or froze the connection, a
 * pool is full, a wait timed out. Clients may retry them unchanged, so they are
 * `unavailable` (503, WebSocket close 1013), never `internal` (500, close 1011).
 */
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * PostgreSQL SQLSTATEs: 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
 * cannot_connect_now (starting or stopping), 53300 too_many_connections, 57014
 * query_canceled (statement_timeout). Class 08 (connection exception) is matched as a class.
 */
const UNAVAILABLE_SQLSTATE = new Set(['57P01', '57P02', '57P03', '53300', '57014']);

/** Messages of node-postgres, pg-pool and ioredis errors that carry no code. */
const UNAVAILABLE_MESSAGES = [
  'timeout exceeded when trying to connect', // pg-pool: no connection within connectionTimeoutMillis
  'connection terminated', // pg: "… unexpectedly", "… due to connection timeout"
  'query read timeout', // pg: query_timeout
  'is not queryable', // pg: a client whose connection failed or ended
  'cannot use a pool after calling end on the pool',
  'connection is closed', // ioredis
];

/** Error names of clients that say "the server is unreachable". */
const UNAVAILABLE_NAMES = new Set([
  'MaxRetriesPerRequestError', // ioredis gave up reconnecting for this command
  'MongoServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoNotConnectedError',
]);

/** Whether `err` (or an error in its cause chain) means a dependency is unavailable. */
export function isUnavailableError(err: unknown): boolean {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0 && seen.size < 16) {
    const current = queue.shift();
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    if (current instanceof ChatError) {
      if (current.code === 'unavailable') return true;
      continue;
    }
    if (matches(current as ErrorLike)) return true;
    const { cause, errors } = current as { cause?: unknown; errors?: unknown };
    if (cause !== undefined) queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors); // AggregateError (dual-stack connect)
  }
  return false;
}

interface ErrorLike {
  code?: unknown;
  name?: unknown;
  message?: unknown;
}

function matches(err: ErrorLike): boolean {
  const code = typeof err.code === 'string' ? err.code : undefined;
  if (code !== undefined) {
    if (UNAVAILABLE_ERRNO.has(code)) return true;
    if (UNAVAILABLE_SQLSTATE.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
    if (code.startsWith('SQLITE_BUSY')) return true;
  }
  if (typeof err.name === 'string' && UNAVAILABLE_NAMES.has(err.name)) return true;
  if (typeof err.message === 'string') {
    const message = err.message.toLowerCase();
    if (UNAVAILABLE_MESSAGES.some((m) => message.includes(m))) return true;
  }
  return false;
}

/**
 * The one classification of anything a service's code throws: a ChatError stays as it is,
 * a dependency that cannot answer becomes `unavailable` (retryable), anything else
 * `internal`. The original error is kept as `cause` for the logs; clients see only the
 * code's generic message. HTTP errors go through it (toHttpError); the WebSocket gateway
 * should use it too, so a frozen database closes a socket with 1013, not 1011.
 */
export function toServiceError(err: unknown): ChatError {
  if (err instanceof ChatError) return err;
  if (isUnavailableError(err)) return new ChatError('unavailable', undefined, { cause: err });
  return toChatError(err);
}
