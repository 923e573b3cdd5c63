import { ChatError, type ErrorCode, type FieldIssue } from '@relay-chat/protocol';
import type { MessageStore } from './message-store.js';
import type { SqliteMessageStoreOptions } from './sqlite.js';

/**
 * What the SQLite store's worker thread and the main thread say to each other (see
 * sqlite-worker.ts). Every value crosses by structured clone: the MessageStore's inputs
 * and results are plain data (objects, arrays, Sets), errors are turned into
 * SerializedError and back.
 */

/** Every MessageStore method: each takes its arguments and returns a promise. */
export type StoreMethod = keyof MessageStore;

/** The methods the worker runs for the main thread, all of MessageStore's. */
export const STORE_METHODS = [
  'migrate',
  'ping',
  'close',
  'getOrCreateDm',
  'createGroup',
  'createChannel',
  'ensureChannel',
  'getConversation',
  'updateConversation',
  'addMembers',
  'removeMemberAs',
  'updateSettings',
  'welcome',
  'listChannels',
  'addMember',
  'removeMember',
  'isMember',
  'listMembers',
  'memberCount',
  'conversationsOf',
  'conversationStateOf',
  'spokeWith',
  'conversationsCreatedSince',
  'append',
  'history',
  'markRead',
  'markAllRead',
  'editMessage',
  'deleteMessage',
  'react',
  'changesSince',
  'thread',
  'around',
  'search',
] as const satisfies readonly StoreMethod[];

// A method added to MessageStore and not listed above fails to compile here.
type Unlisted = Exclude<StoreMethod, (typeof STORE_METHODS)[number]>;
const everyMethodListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyMethodListed;

/** What the worker is started with (workerData). */
export interface WorkerSetup {
  url: string;
  options: Omit<SqliteMessageStoreOptions, 'logger'>;
}

/** Main thread → worker: run `method` with `args`; the answer carries the same id. */
export interface StoreRequest {
  id: number;
  method: StoreMethod;
  args: unknown[];
}

/** Worker → main thread. */
export type WorkerMessage =
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'log'; level: 'warn' | 'error'; fields: Record<string, unknown>; msg: string };

/**
 * An error as it crosses threads: a ChatError keeps its code, message, fields and
 * retryAfterSec; any other error its name, message, `code` (better-sqlite3's SQLITE_…,
 * which isUnavailableError reads) and stack; both keep their cause.
 */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
  chat?: { code: ErrorCode; fields?: FieldIssue[]; retryAfterSec?: number };
  cause?: SerializedError;
}

export function serializeError(err: unknown, depth = 0): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const out: SerializedError = { name: err.name, message: err.message };
  if (err.stack !== undefined) out.stack = err.stack;
  if (err instanceof ChatError) {
    out.chat = { code: err.code };
    if (err.fields !== undefined) out.chat.fields = err.fields;
    if (err.retryAfterSec !== undefined) out.chat.retryAfterSec = err.retryAfterSec;
  } else {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' || typeof code === 'number') out.code = code;
  }
  if (err.cause !== undefined && depth < 4) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

export function deserializeError(s: SerializedError): Error {
  const cause = s.cause === undefined ? undefined : deserializeError(s.cause);
  let err: Error;
  if (s.chat) {
    err = new ChatError(s.chat.code, s.message, {
      ...(s.chat.fields !== undefined ? { fields: s.chat.fields } : {}),
      ...(s.chat.retryAfterSec !== undefined ? { retryAfterSec: s.chat.retryAfterSec } : {}),
      ...(cause !== undefined ? { cause } : {}),
    });
  } else {
    err = new Error(s.message, cause === undefined ? undefined : { cause });
    err.name = s.name;
    if (s.code !== undefined) (err as Error & { code?: string | number }).code = s.code;
  }
  if (s.stack !== undefined) err.stack = s.stack;
  return err;
}
