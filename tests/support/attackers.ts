/**
 * Attack generators run in a child process (tests/abuse/attacker.ts), so a flood neither
 * shares the test's event loop with the control pair it is measured against nor the
 * server's. Every attack is bounded in time, talks only to the URLs it is given
 * (127.0.0.1), and reports what it saw as JSON.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const NICE = '/usr/bin/nice';

/** The client frame a flood repeats (see attacker.ts for the exact frames). */
export type FloodFrame =
  | 'read'
  | 'typing-unknown'
  | 'send'
  | 'ping'
  | 'auth-garbage'
  | 'invalid-json'
  | 'unknown-type';

/** Floods of one frame type from one user over several sockets. */
export interface FramesAttack {
  kind: 'frames';
  wsUrl: string;
  token: string;
  frame: FloodFrame;
  sockets: number;
  durationMs: number;
  /** Frames per second each socket tries to send (bounded by its own send buffer). */
  ratePerSocket: number;
  /** Conversation for `read` and `send` (the attacker is a member). */
  conv?: string;
  /** `read` frames cycle through seq 1..maxSeq. */
  maxSeq?: number;
}

/** One user POSTing messages as fast as it can, plus one socket sending within the frame budget. */
export interface RestSendAttack {
  kind: 'rest-send';
  url: string;
  wsUrl: string;
  token: string;
  conv: string;
  durationMs: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Sends per second over the socket, at the same time (0: none). */
  socketSendsPerSec: number;
}

/** Connect, send a burst, disconnect — again and again. */
export interface ChurnAttack {
  kind: 'reconnect-churn';
  wsUrl: string;
  token: string;
  conv: string;
  durationMs: number;
  /** Sends per connection. */
  burst: number;
}

/** Several clients registering new accounts nonstop. */
export interface RegisterAttack {
  kind: 'register-flood';
  url: string;
  clients: number;
  durationMs: number;
  /** Username prefix (letters and digits). */
  prefix: string;
}

export type AttackSpec = FramesAttack | RestSendAttack | ChurnAttack | RegisterAttack;

/** One flooding socket's view. */
export interface SocketReport {
  /** HTTP status of a refused upgrade, 101 when it opened. */
  upgrade: number;
  sent: number;
  /** Answers to our frames: `pong`, `ack`, `error:<code>` → count. */
  replies: Record<string, number>;
  /** Other frames (messages, presence …) → count. */
  other: Record<string, number>;
  /** `rate_limited` errors without a `ref` (the inbound budget's notices). */
  rateLimitedNotices: number;
  /** `rate_limited` errors without a positive `retryAfterMs`. */
  rateLimitedWithoutRetryAfter: number;
  /** Set when the server closed the socket. */
  closedByServer?: { code: number; reason: string; afterMs: number };
}

export interface FramesReport {
  kind: 'frames';
  elapsedMs: number;
  sockets: SocketReport[];
}

export interface RestSendReport {
  kind: 'rest-send';
  elapsedMs: number;
  /** HTTP status → count. */
  statuses: Record<string, number>;
  /** Error code of the error bodies → count (`<not a contract body>` when it was not one). */
  codes: Record<string, number>;
  /** 429 answers without a Retry-After header. */
  withoutRetryAfter: number;
  /** Requests that got no answer within 5 s. */
  timeouts: number;
  /** Over the socket. */
  socketSent: number;
  socketAcks: number;
  socketErrors: Record<string, number>;
}

export interface ChurnReport {
  kind: 'reconnect-churn';
  elapsedMs: number;
  connections: number;
  /** Refused upgrades: HTTP status → count. */
  refused: Record<string, number>;
  sent: number;
  acks: number;
  errors: Record<string, number>;
  closes: Record<string, number>;
}

export interface RegisterReport {
  kind: 'register-flood';
  elapsedMs: number;
  statuses: Record<string, number>;
  codes: Record<string, number>;
  withoutRetryAfter: number;
  timeouts: number;
}

export type AttackReport = FramesReport | RestSendReport | ChurnReport | RegisterReport;
export type ReportOf<S extends AttackSpec> = Extract<AttackReport, { kind: S['kind'] }>;

export interface RunningAttack<S extends AttackSpec> {
  /** Resolves when the attacker has its connections up and starts the attack proper. */
  started: Promise<void>;
  /** The attacker's report, once it is done. */
  done: Promise<ReportOf<S>>;
}

const ATTACKER = fileURLToPath(new URL('../abuse/attacker.ts', import.meta.url));
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts an attacker process; it is killed if it runs `durationMs + graceMs` (default 30 s). */
export function launchAttack<S extends AttackSpec>(spec: S, graceMs = 30_000): RunningAttack<S> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const child of running) child.kill('SIGKILL');
    });
  }
  // The attacker stands in for clients on other machines: its CPU (and its TypeScript
  // loader's, which starts a helper process) is not the service's. On this 2-core machine it
  // would otherwise take a core from the processes under test; `nice` covers its children.
  const command = existsSync(NICE) ? NICE : process.execPath;
  const args = ['--conditions=source', '--import', 'tsx', ATTACKER];
  const child = spawn(command, command === NICE ? ['-n', '10', process.execPath, ...args] : args, {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);

  child.stdin.end(JSON.stringify(spec));
  let stdout = '';
  let stderr = '';
  let onStarted: () => void = () => {};
  let onFailure: (err: Error) => void = () => {};
  const started = new Promise<void>((resolve, reject) => {
    onStarted = resolve;
    onFailure = reject;
  });
  started.catch(() => {});
  const done = new Promise<ReportOf<S>>((resolve, reject) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), spec.durationMs + graceMs);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('STARTED\n')) onStarted();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.once('close', (code, signal) => {
      clearTimeout(killer);
      running.delete(child);
      const line = stdout.split('\n').find((l) => l.startsWith('REPORT '));
      if (line) {
        onStarted();
        resolve(JSON.parse(line.slice('REPORT '.length)) as ReportOf<S>);
        return;
      }
      const err = new Error(
        `attacker ${spec.kind} ended without a report (code ${code}, signal ${signal}); stderr:\n${stderr}`,
      );
      onFailure(err);
      reject(err);
    });
  });
  return { started, done };
}

/** Adds one to `counts[key]`. */
export function bump(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}
