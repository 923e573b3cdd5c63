/**
 * A server process a test owns outright (its own PostgreSQL or Redis on a free port), so
 * it may stop, restart, freeze and thaw it without touching the shared servers other
 * people's tests use. Signals go to the process and every process it forked, found through
 * /proc (PostgreSQL's backends each lead their own process group, so a group signal would
 * miss them): SIGSTOP freezes all of it. Linux only. Whatever is still running when the
 * test process exits is killed then.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessSpec {
  command: string;
  args: readonly string[];
  /** Run as this user and group (root only, e.g. postgres refuses to run as root). */
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
  /** Name used in error messages. */
  label: string;
}

const live = new Set<PrivateProcess>();
let exitHookInstalled = false;

/** One server process, restartable with the same command line. */
export class PrivateProcess {
  #child: ChildProcess | undefined;
  #output = '';
  #frozen = false;

  constructor(private readonly spec: ProcessSpec) {}

  /** Its recent stdout and stderr (the last 8 KiB), for error messages. */
  get output(): string {
    return this.#output;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  /** Starts the process (again, after stop). */
  start(): void {
    if (this.running) throw new Error(`${this.spec.label} is already running`);
    const child = spawn(this.spec.command, [...this.spec.args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.spec.env ?? process.env,
      ...(this.spec.uid === undefined ? {} : { uid: this.spec.uid, gid: this.spec.gid }),
    });
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-8192);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (err) => keep(Buffer.from(`spawn error: ${err.message}\n`)));
    this.#child = child;
    this.#frozen = false;
    live.add(this);
    installExitHook();
  }

  /**
   * Sends `signal` to the process group and resolves when the leader has exited; after
   * `timeoutMs` it is killed with SIGKILL.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) {
      live.delete(this);
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (this.#frozen) this.thaw();
    this.signalGroup(signal);
    const timer = setTimeout(() => this.signalGroup('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    this.#frozen = false;
    live.delete(this);
  }

  /** SIGSTOP to the process and all it forked: connections stay open, nothing answers. */
  freeze(): void {
    // The parent first, so that it forks nothing new while its children are stopped.
    this.signalGroup('SIGSTOP');
    this.signalDescendants('SIGSTOP');
    this.#frozen = true;
  }

  /** SIGCONT: the frozen processes carry on where they stopped. */
  thaw(): void {
    this.signalDescendants('SIGCONT');
    this.signalGroup('SIGCONT');
    this.#frozen = false;
  }

  /** Kills the group at once (exit hook, failed start). */
  killNow(): void {
    if (!this.running) return;
    const descendants = this.#child?.pid === undefined ? [] : descendantsOf(this.#child.pid);
    this.signalGroup('SIGKILL');
    for (const pid of descendants) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    live.delete(this);
  }

  private signalDescendants(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    for (const child of descendantsOf(pid)) {
      try {
        process.kill(child, signal);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

/** Every process below `root`, from /proc/<pid>/stat's parent field. */
function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() ?? -1) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const proc of live) proc.killNow();
  });
}
