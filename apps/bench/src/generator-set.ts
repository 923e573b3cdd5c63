import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LoadGenerator } from './generator.js';
import type { CoordinatorMessage, GeneratorMessage } from './generator-protocol.js';

type Listener = (from: number, message: GeneratorMessage) => void;

interface Handle {
  send(message: CoordinatorMessage): void;
  kill(): void;
  pid: number;
}

const ENTRY = fileURLToPath(new URL('./generator-process.ts', import.meta.url));

/**
 * The load-generator processes of a run, as one group: forked children (each its own event
 * loop and CPU) or, with `processes: 0`, one generator inside this process (tests).
 */
export class GeneratorSet {
  private readonly handles: Handle[] = [];
  private readonly listeners = new Set<Listener>();
  private readonly exited = new Set<number>();

  constructor(count: number) {
    if (count === 0) {
      const generator = new LoadGenerator((message) => queueMicrotask(() => this.dispatch(0, message)));
      this.handles.push({
        send: (message) => queueMicrotask(() => generator.handle(message)),
        kill: () => {},
        pid: process.pid,
      });
      return;
    }
    for (let i = 0; i < count; i++) {
      const child: ChildProcess = fork(ENTRY, [], {
        execArgv: ['--conditions=source', '--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.on('message', (message: GeneratorMessage) => this.dispatch(i, message));
      child.on('exit', (code) => {
        this.exited.add(i);
        if (code !== 0 && code !== null) {
          this.dispatch(i, { type: 'fatal', message: `generator ${i} exited with code ${code}` });
        }
      });
      this.handles.push({
        send: (message) => {
          if (child.connected) child.send(message);
        },
        kill: () => child.kill('SIGKILL'),
        pid: child.pid ?? 0,
      });
    }
  }

  get size(): number {
    return this.handles.length;
  }

  get pids(): number[] {
    return this.handles.map((h) => h.pid);
  }

  send(index: number, message: CoordinatorMessage): void {
    this.handles[index]!.send(message);
  }

  broadcast(message: CoordinatorMessage): void {
    for (const handle of this.handles) handle.send(message);
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves with one message of `type` from every generator (by index); rejects on a
   * generator's fatal error or after `timeoutMs`.
   */
  collect<T extends GeneratorMessage['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<GeneratorMessage, { type: T }>[]> {
    return new Promise((resolve, reject) => {
      const got = new Map<number, Extract<GeneratorMessage, { type: T }>>();
      const timer = setTimeout(() => {
        off();
        reject(new Error(`generators did not answer "${type}" within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const off = this.on((from, message) => {
        if (message.type === 'fatal') {
          clearTimeout(timer);
          off();
          reject(new Error(`generator ${from}: ${message.message}`));
          return;
        }
        if (message.type !== type) return;
        got.set(from, message as Extract<GeneratorMessage, { type: T }>);
        if (got.size === this.handles.length) {
          clearTimeout(timer);
          off();
          resolve(this.handles.map((_, i) => got.get(i)!));
        }
      });
    });
  }

  /** Asks every generator to close its connections and waits (bounded), then kills what is left. */
  async close(): Promise<void> {
    const closed = this.collect('closed', 10_000).catch(() => undefined);
    this.broadcast({ type: 'close' });
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const [i, handle] of this.handles.entries()) if (!this.exited.has(i)) handle.kill();
  }

  private dispatch(from: number, message: GeneratorMessage): void {
    for (const listener of this.listeners) listener(from, message);
  }
}
