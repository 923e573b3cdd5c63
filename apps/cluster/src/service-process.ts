import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

/** How a child process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What to run and how to tell it is ready. */
export interface ServiceProcessSpec {
  /** Short name for logs and errors: `auth`, `chat-1`, `nginx`. */
  name: string;
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Appended to on every start; ignored when `verbose`. */
  logFile: string;
  /** Inherit the launcher's stdout/stderr instead of writing `logFile`. */
  verbose: boolean;
  /** URL answering 2xx once the process serves. */
  readyUrl: string;
  /** Give up waiting for readiness after this long, ms. */
  readyTimeoutMs: number;
  /** After SIGTERM, wait this long before SIGKILL, ms. */
  stopTimeoutMs: number;
  /**
   * What killNow() sends. Default SIGKILL; nginx gets SIGTERM, because a SIGKILLed nginx
   * master leaves its workers running.
   */
  lastResortSignal?: NodeJS.Signals;
}

// When setpriv is there (util-linux), children get SIGTERM if the launcher dies without
// cleaning up (kill -9, a crashed test worker): no orphans even then.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find(
  (path) => existsSync(path) && spawnSync(path, ['--pdeathsig', 'TERM', '--', 'true']).status === 0,
);

/**
 * One child process of the cluster: started, awaited until ready, killed with any signal and
 * started again with the same command, port and environment (so nginx's upstream entry for
 * it becomes valid again).
 */
export class ServiceProcess {
  readonly name: string;
  /** The file its stdout/stderr go to (unless verbose). */
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exitPromise: Promise<ProcessExit> | undefined;
  private lastExit: ProcessExit | undefined;

  constructor(private readonly spec: ServiceProcessSpec) {
    this.name = spec.name;
    this.logFile = spec.logFile;
  }

  /** Process id of the running child, if any. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.lastExit === undefined;
  }

  /** How the last run ended, if it has. */
  get exit(): ProcessExit | undefined {
    return this.lastExit;
  }

  /** Starts the process and resolves once `readyUrl` answers 2xx; rejects (and kills it) otherwise. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const { spec } = this;
    const fd = spec.verbose ? undefined : openSync(spec.logFile, 'a');
    const [command, args] = SETPRIV
      ? [SETPRIV, ['--pdeathsig', 'TERM', '--', spec.command, ...spec.args]]
      : [spec.command, [...spec.args]];
    try {
      this.lastExit = undefined;
      const child = spawn(command, args, {
        cwd: spec.cwd,
        env: spec.env,
        stdio: ['ignore', fd ?? 'inherit', fd ?? 'inherit'],
      });
      this.child = child;
      this.exitPromise = new Promise<ProcessExit>((resolve) => {
        child.once('exit', (code, signal) => {
          this.lastExit = { code, signal };
          resolve(this.lastExit);
        });
        child.once('error', (err) => {
          this.lastExit = { code: -1, signal: null };
          resolve(this.lastExit);
          if (fd === undefined) console.error(`${this.name}: ${err.message}`);
        });
      });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    try {
      await this.waitUntilReady();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Sends `signal` (default SIGTERM) and resolves with how the process ended. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<ProcessExit | undefined> {
    if (!this.running) return this.lastExit;
    this.child?.kill(signal);
    return this.exitPromise;
  }

  /** SIGTERM, then SIGKILL after `stopTimeoutMs`; resolves once the process is gone. */
  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = this.exitPromise;
    this.child?.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.spec.stopTimeoutMs);
    });
    if ((await Promise.race([exited, timedOut])) === 'timeout') {
      this.child?.kill('SIGKILL');
      await exited;
    }
    clearTimeout(timer);
  }

  /** Stops the process if it runs, starts it again and waits until it is ready. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Synchronous last resort (process 'exit' handler): signals without waiting. */
  killNow(): void {
    if (this.running) this.child?.kill(this.spec.lastResortSignal ?? 'SIGKILL');
  }

  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + this.spec.readyTimeoutMs;
    let lastProblem = 'no answer yet';
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(
          `${this.name} exited before it was ready (${describeExit(this.lastExit)})${this.logTail()}`,
        );
      }
      try {
        const response = await fetch(this.spec.readyUrl, { signal: AbortSignal.timeout(2000) });
        await response.body?.cancel();
        if (response.ok) return;
        lastProblem = `HTTP ${response.status}`;
      } catch (err) {
        lastProblem = (err as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `${this.name} was not ready at ${this.spec.readyUrl} within ${this.spec.readyTimeoutMs} ms ` +
        `(${lastProblem})${this.logTail()}`,
    );
  }

  private logTail(): string {
    if (this.spec.verbose || !existsSync(this.logFile)) return '';
    const lines = readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-15);
    return `; last lines of ${this.logFile}:\n${lines.join('\n')}`;
  }
}

function describeExit(exit: ProcessExit | undefined): string {
  if (!exit) return 'unknown';
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}
