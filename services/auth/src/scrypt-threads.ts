import { Worker } from 'node:worker_threads';
import type { ScryptParams } from './passwords.js';

/**
 * scrypt on worker threads of their own at a lowered CPU priority. A 128 MiB hash holds a
 * core for most of a second: on a busy machine it must not take CPU from the event loop,
 * which carries everyone's messages — and sign-ups (a lower priority still) must not take
 * it from logins. On Linux a thread's nice value is its own, so lowering a worker's leaves
 * the rest of the process as it was. Plain JavaScript evaluated in the worker: nothing to
 * compile or resolve, whether the service runs from sources or from dist/.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { scryptSync } = require('node:crypto');
try { require('node:os').setPriority(0, workerData.nice); } catch {}
parentPort.on('message', ({ id, password, salt, keyBytes, params, maxmem }) => {
  try {
    const key = scryptSync(password, Buffer.from(salt), keyBytes, { ...params, maxmem });
    parentPort.postMessage({ id, key });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});
`;

interface Pending {
  resolve: (key: Buffer) => void;
  reject: (err: Error) => void;
}

/** One worker thread and the hashes it is computing, in order. */
class ScryptThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly nice: number) {}

  get load(): number {
    return this.pending.size;
  }

  derive(
    password: string,
    salt: Buffer,
    params: ScryptParams,
    keyBytes: number,
    maxmem: number,
  ): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error('password hashing stopped'));
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, password, salt, keyBytes, params, maxmem });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new Error('password hashing stopped'));
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { nice: this.nice } });
    worker.on('message', ({ id, key, error }: { id: number; key?: Uint8Array; error?: string }) => {
      const waiting = this.pending.get(id);
      this.pending.delete(id);
      if (this.pending.size === 0) worker.unref();
      if (!waiting) return;
      if (key) waiting.resolve(Buffer.from(key));
      else waiting.reject(new Error(error ?? 'scrypt failed'));
    });
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
      this.failAll(new Error('the hashing worker exited'));
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private failAll(err: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(err);
    this.pending.clear();
  }
}

/**
 * `threads` scrypt threads at niceness `nice` (0 = the process's own priority, 19 = the
 * lowest); a hash goes to the least busy one. Threads start on first use.
 */
export class ScryptThreads {
  private readonly threads: ScryptThread[];

  constructor(threads: number, nice: number) {
    this.threads = Array.from({ length: Math.max(1, threads) }, () => new ScryptThread(nice));
  }

  derive(
    password: string,
    salt: Buffer,
    params: ScryptParams,
    keyBytes: number,
    maxmem: number,
  ): Promise<Buffer> {
    let idlest = this.threads[0]!;
    for (const thread of this.threads) if (thread.load < idlest.load) idlest = thread;
    return idlest.derive(password, salt, params, keyBytes, maxmem);
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
