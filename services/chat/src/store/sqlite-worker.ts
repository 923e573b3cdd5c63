import { Worker } from 'node:worker_threads';
import type { Logger } from '@relay-chat/service-kit';
import type { MessageStore } from './message-store.js';
import type { SqliteMessageStoreOptions } from './sqlite.js';
import {
  deserializeError,
  type SerializedError,
  type StoreMethod,
  type StoreRequest,
  type WorkerMessage,
  type WorkerSetup,
} from './sqlite-worker-protocol.js';

/** Options of the SQLite store on its worker thread: those of SqliteMessageStore. */
export interface SqliteWorkerStoreOptions extends Omit<SqliteMessageStoreOptions, 'logger'> {
  /** Gets the store's own log lines and the worker's failures (never a message body). */
  logger?: Logger;
  /**
   * Longest `close()` waits for the worker to close the store, and then for it to stop, ms
   * (default CLOSE_WAIT_MS). Past it, shutdown goes on without it: every commit the worker
   * acknowledged is already durable, and the messages the text index had not caught up with
   * are found again by the next start's first catch-up.
   */
  closeWaitMs?: number;
}

/** Default of SqliteWorkerStoreOptions.closeWaitMs. */
const CLOSE_WAIT_MS = 5000;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/**
 * The embedded message store with its writer off the main thread: a worker thread owns the
 * SqliteMessageStore (its connection, its transactions, the fsync of every commit), and
 * every MessageStore call is forwarded to it and answered from it. The main thread, which
 * writes frames to the sockets, never waits for the disk.
 *
 * The worker runs the calls in the order they were made, each to its end; a call resolves
 * when the worker answers, so `append` resolves — and its acks go out — after its commit,
 * as with the store in-thread. Group commit is the AppendBatcher's: one batch in flight,
 * the next one gathering on the main thread meanwhile.
 *
 * When the worker dies, every call waiting for it and every later call rejects; the failure
 * is logged. `sqlite::memory:` works: only the worker ever opens the database.
 */
export class SqliteWorkerStore implements MessageStore {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Why calls are refused: the worker stopped, or the store was closed. */
  private stopped: Error | undefined;
  private closing: Promise<void> | undefined;
  private readonly logger: Logger | undefined;
  private readonly closeWaitMs: number;

  /** `url`: `sqlite:<path>` or `sqlite::memory:`. */
  constructor(url: string, options: SqliteWorkerStoreOptions = {}) {
    const { logger, closeWaitMs, ...storeOptions } = options;
    this.logger = logger;
    this.closeWaitMs = closeWaitMs ?? CLOSE_WAIT_MS;
    const worker = startWorker({ url, options: storeOptions });
    this.worker = worker;
    worker.on('message', (message: WorkerMessage) => this.receive(message));
    worker.on('error', (err) => {
      this.logger?.error({ err }, 'the SQLite store worker failed');
      this.fail(new Error(`the SQLite store worker failed: ${err.message}`, { cause: err }));
    });
    worker.on('exit', (code) => {
      if (!this.closing && !this.stopped) {
        this.logger?.error({ code }, 'the SQLite store worker exited');
      }
      this.fail(new Error(`the SQLite store worker exited (code ${code})`));
    });
    // Only calls waiting for an answer keep the process alive (as the in-thread store).
    worker.unref();
  }

  migrate = (...args: Parameters<MessageStore['migrate']>) => this.call('migrate', args);
  ping = (...args: Parameters<MessageStore['ping']>) => this.call('ping', args);
  getOrCreateDm = (...args: Parameters<MessageStore['getOrCreateDm']>) => this.call('getOrCreateDm', args);
  createGroup = (...args: Parameters<MessageStore['createGroup']>) => this.call('createGroup', args);
  createChannel = (...args: Parameters<MessageStore['createChannel']>) => this.call('createChannel', args);
  ensureChannel = (...args: Parameters<MessageStore['ensureChannel']>) => this.call('ensureChannel', args);
  getConversation = (...args: Parameters<MessageStore['getConversation']>) =>
    this.call('getConversation', args);
  updateConversation = (...args: Parameters<MessageStore['updateConversation']>) =>
    this.call('updateConversation', args);
  addMembers = (...args: Parameters<MessageStore['addMembers']>) => this.call('addMembers', args);
  removeMemberAs = (...args: Parameters<MessageStore['removeMemberAs']>) => this.call('removeMemberAs', args);
  updateSettings = (...args: Parameters<MessageStore['updateSettings']>) => this.call('updateSettings', args);
  welcome = (...args: Parameters<MessageStore['welcome']>) => this.call('welcome', args);
  listChannels = (...args: Parameters<MessageStore['listChannels']>) => this.call('listChannels', args);
  addMember = (...args: Parameters<MessageStore['addMember']>) => this.call('addMember', args);
  removeMember = (...args: Parameters<MessageStore['removeMember']>) => this.call('removeMember', args);
  isMember = (...args: Parameters<MessageStore['isMember']>) => this.call('isMember', args);
  listMembers = (...args: Parameters<MessageStore['listMembers']>) => this.call('listMembers', args);
  memberCount = (...args: Parameters<MessageStore['memberCount']>) => this.call('memberCount', args);
  conversationsOf = (...args: Parameters<MessageStore['conversationsOf']>) =>
    this.call('conversationsOf', args);
  conversationStateOf = (...args: Parameters<MessageStore['conversationStateOf']>) =>
    this.call('conversationStateOf', args);
  spokeWith = (...args: Parameters<MessageStore['spokeWith']>) => this.call('spokeWith', args);
  conversationsCreatedSince = (...args: Parameters<MessageStore['conversationsCreatedSince']>) =>
    this.call('conversationsCreatedSince', args);
  append = (...args: Parameters<MessageStore['append']>) => this.call('append', args);
  history = (...args: Parameters<MessageStore['history']>) => this.call('history', args);
  markRead = (...args: Parameters<MessageStore['markRead']>) => this.call('markRead', args);
  markAllRead = (...args: Parameters<MessageStore['markAllRead']>) => this.call('markAllRead', args);
  editMessage = (...args: Parameters<MessageStore['editMessage']>) => this.call('editMessage', args);
  deleteMessage = (...args: Parameters<MessageStore['deleteMessage']>) => this.call('deleteMessage', args);
  react = (...args: Parameters<MessageStore['react']>) => this.call('react', args);
  changesSince = (...args: Parameters<MessageStore['changesSince']>) => this.call('changesSince', args);
  thread = (...args: Parameters<MessageStore['thread']>) => this.call('thread', args);
  around = (...args: Parameters<MessageStore['around']>) => this.call('around', args);
  search = (...args: Parameters<MessageStore['search']>) => this.call('search', args);

  /**
   * Lets the calls made before it finish, closes the store in the worker (the text index
   * catches up first), then stops the worker. Idempotent; resolves also when the worker
   * had already died. Bounded: a worker that does not answer within closeWaitMs (stuck in a
   * native call, a lock held by another process) does not hold up the process's shutdown.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        if (!this.stopped && !(await this.within(this.call('close', [])))) {
          this.logger?.error({ waitedMs: this.closeWaitMs }, 'the SQLite store worker did not close in time');
        }
      } catch (err) {
        this.logger?.error({ err }, 'the SQLite store worker failed to close');
      } finally {
        this.stopped ??= new Error('the SQLite store is closed');
        this.fail(this.stopped);
        // terminate() waits for a native call in progress to return: do not wait past the bound.
        await this.within(this.worker.terminate());
      }
    })();
    return this.closing;
  }

  /** True when `promise` settled within closeWaitMs (its rejection is rethrown). */
  private async within(promise: Promise<unknown>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.closeWaitMs);
    });
    const settled = promise.then(() => true);
    // A rejection after the bound has passed is the caller's no more.
    settled.catch(() => {});
    try {
      return await Promise.race([settled, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends one call to the worker; its answer settles the promise. */
  private call<K extends StoreMethod>(
    method: K,
    args: Parameters<MessageStore[K]>,
  ): ReturnType<MessageStore[K]> {
    return new Promise<unknown>((resolve, reject) => {
      if (this.stopped) {
        reject(this.stopped);
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      try {
        this.worker.postMessage({ id, method, args } satisfies StoreRequest);
      } catch (err) {
        // Arguments structured clone cannot copy.
        this.settled(id);
        reject(err);
      }
    }) as ReturnType<MessageStore[K]>;
  }

  private receive(message: WorkerMessage): void {
    if (message.type === 'log') {
      this.logger?.[message.level](revive(message.fields), message.msg);
      return;
    }
    const waiting = this.settled(message.id);
    if (!waiting) return;
    if (message.type === 'result') waiting.resolve(message.value);
    else waiting.reject(deserializeError(message.error));
  }

  private settled(id: number): Pending | undefined {
    const waiting = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
    return waiting;
  }

  private fail(err: Error): void {
    this.stopped ??= err;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    this.worker.unref();
    for (const w of waiting) w.reject(err);
  }
}

/** Log fields from the worker, with its errors made Errors again (for pino's serializer). */
function revive(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    const serialized = (value as { serializedError?: SerializedError } | null)?.serializedError;
    out[key] = serialized ? deserializeError(serialized) : value;
  }
  return out;
}

/**
 * The worker, from the compiled `sqlite-worker-thread.js` beside this file — or, when this
 * file runs from its TypeScript source (tests, `--import tsx`), from the `.ts` one, loaded
 * through tsx registered in the worker itself (Node 20 does not apply the parent's
 * `--import` hooks to a worker's entry) with the `source` condition, so the workspace
 * packages resolve to their sources as in the parent.
 */
function startWorker(setup: WorkerSetup): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(`./sqlite-worker-thread.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  if (!fromSource) return new Worker(entry, { workerData: setup });
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: setup, execArgv: ['--conditions=source'] });
}
