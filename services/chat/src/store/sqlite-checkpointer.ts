import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Checkpoints of the SQLite store's WAL, off the writer's thread.
 *
 * By default SQLite checkpoints inside the commit that takes the WAL past
 * `wal_autocheckpoint` pages: that commit copies a thousand pages into the database file and
 * waits for its fsync, and every append queued behind it waits too. Measured on this
 * machine's disk, checkpoints were two thirds of a commit's cost per message (a 64-message
 * commit: 100–120 µs per message with them, 30–60 without).
 *
 * Here a thread of its own, on its own connection, runs a PASSIVE checkpoint every
 * `intervalMs` (500 ms; 100 ms copied hot pages so often that it cost more CPU than it
 * saved): it copies what the WAL holds into the database file and syncs it, without taking
 * the write lock, so the writer never waits for it. The writer keeps a much higher
 * `wal_autocheckpoint` as a bound on the WAL's size: past it, its own checkpoint finds the
 * pages already copied (or the checkpointer busy, and skips), and the WAL starts over.
 *
 * Durability does not change: a commit is durable when its WAL frames are synced, as before;
 * a checkpoint only moves synced pages, and SQLite's recovery replays the WAL after a crash
 * whether or not the copy finished.
 *
 * The thread is a few lines of CommonJS evaluated in place (no build step of its own); it
 * loads the same better-sqlite3 as the store.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
let failures = 0;
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    failures = 0;
  } catch (err) {
    // Reported once per run of failures; the writer's own checkpoints still bound the WAL.
    if (failures++ === 0) parentPort.postMessage({ error: String(err && err.message) });
  }
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.postMessage({ closed: true });
});
`;

/** How often the checkpointer runs, ms. */
export const CHECKPOINT_INTERVAL_MS = 500;
/**
 * The writer's `wal_autocheckpoint` while the checkpointer runs, in pages (4 KiB): the WAL's
 * size bound, 16 MiB.
 */
export const WRITER_AUTOCHECKPOINT_PAGES = 4096;

export interface WalCheckpointer {
  /** Stops the thread after the checkpoint in progress, if any; resolves when it is gone. */
  stop(): Promise<void>;
}

/** Starts checkpointing the WAL of the SQLite file at `path` (which must exist, in WAL mode). */
export function startWalCheckpointer(
  path: string,
  options: { intervalMs?: number; onError?: (message: string) => void } = {},
): WalCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: { driver, path, intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS },
  });
  // Never what keeps the process alive.
  worker.unref();
  worker.on('message', (m: { error?: string }) => {
    if (m.error !== undefined) options.onError?.(m.error);
  });
  worker.on('error', (err) => options.onError?.(err.message));
  let exited = false;
  worker.once('exit', () => {
    exited = true;
  });
  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        if (exited) return resolve();
        worker.once('exit', () => resolve());
        worker.on('message', (m: { closed?: boolean }) => {
          if (m.closed) void worker.terminate();
        });
        worker.postMessage('stop');
      });
      return stopping;
    },
  };
}
