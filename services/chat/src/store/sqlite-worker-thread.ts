/**
 * The worker thread of SqliteWorkerStore (sqlite-worker.ts): owns the one SqliteMessageStore
 * of the process and runs the main thread's calls on it, in the order they arrive. Its
 * transactions, and the fsync of every commit, block this thread only.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteMessageStore } from './sqlite.js';
import {
  type SerializedError,
  STORE_METHODS,
  type StoreRequest,
  serializeError,
  type WorkerMessage,
  type WorkerSetup,
} from './sqlite-worker-protocol.js';

if (!parentPort) throw new Error('sqlite-worker-thread runs as a worker thread only');
const port = parentPort;
const setup = workerData as WorkerSetup;
const methods = new Set<string>(STORE_METHODS);

function post(message: WorkerMessage): void {
  port.postMessage(message);
}

/** The store's log lines go to the main thread's logger; errors in them cross as SerializedError. */
const logger = {
  warn(fields: unknown, msg?: unknown): void {
    const plain: Record<string, unknown> = {};
    if (typeof fields === 'object' && fields !== null) {
      for (const [key, value] of Object.entries(fields)) {
        plain[key] = value instanceof Error ? { serializedError: serializeError(value) } : value;
      }
    }
    try {
      post({ type: 'log', level: 'warn', fields: plain, msg: typeof msg === 'string' ? msg : '' });
    } catch {
      post({ type: 'log', level: 'warn', fields: {}, msg: typeof msg === 'string' ? msg : '' });
    }
  },
};

// Opened on the first call, and again on the next one when opening failed (a busy file at
// start: the main thread's migrateAtStart tries again).
let store: SqliteMessageStore | undefined;
const open = (): SqliteMessageStore => {
  store ??= new SqliteMessageStore(setup.url, { ...setup.options, logger });
  return store;
};

/** Calls not answered yet: close waits for them (a first visit waits for the end of a turn). */
const inFlight = new Set<Promise<unknown>>();
let closed: Promise<void> | undefined;

async function close(): Promise<void> {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  await store?.close();
}

async function run(method: StoreRequest['method'], args: unknown[]): Promise<unknown> {
  if (!methods.has(method)) throw new Error(`not a MessageStore method: ${String(method)}`);
  if (method === 'close') {
    closed ??= close();
    return closed;
  }
  if (closed) throw new Error('the SQLite store is closed');
  const target = open() as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  return target[method]!(...args);
}

port.on('message', ({ id, method, args }: StoreRequest) => {
  const call = run(method, args);
  if (method !== 'close') inFlight.add(call);
  call.then(
    (value) => {
      inFlight.delete(call);
      try {
        post({ type: 'result', id, value });
      } catch (err) {
        // A result structured clone cannot copy: a bug, reported to the caller.
        post({ type: 'error', id, error: serializeError(err) });
      }
    },
    (err: unknown) => {
      inFlight.delete(call);
      const error: SerializedError = serializeError(err);
      post({ type: 'error', id, error });
    },
  );
});
