/**
 * The attacker process (started by tests/support/attackers.ts): reads one AttackSpec as JSON
 * on stdin, prints `STARTED` when the attack proper begins and `REPORT <json>` at the end.
 * Bounded by the spec's duration; talks only to the URLs it is given.
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import {
  type AttackReport,
  type AttackSpec,
  bump,
  type ChurnAttack,
  type ChurnReport,
  type FloodFrame,
  type FramesAttack,
  type FramesReport,
  type RegisterAttack,
  type RegisterReport,
  type RestSendAttack,
  type RestSendReport,
  type SocketReport,
} from '../support/attackers.js';

const MAX_BUFFERED_BYTES = 1024 * 1024;
const REQUEST_TIMEOUT_MS = 5000;
const REGISTER_TIMEOUT_MS = 15_000;
const tag = randomBytes(3).toString('hex');

interface ServerFrame {
  type: string;
  code?: string;
  ref?: string;
  retryAfterMs?: number;
  clientMsgId?: string;
}

function started(): void {
  process.stdout.write('STARTED\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

// --- frame floods ----------------------------------------------------------------------

interface Flooder {
  ws: WebSocket;
  report: SocketReport;
  lastFrameAt: number;
  closingOurselves: boolean;
}

/** Opens a socket and waits for `ready` (or a refusal); never throws. */
function openFlooder(wsUrl: string, token: string, startedAt: number): Promise<Flooder> {
  const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
  const report: SocketReport = {
    upgrade: 0,
    sent: 0,
    replies: {},
    other: {},
    rateLimitedNotices: 0,
    rateLimitedWithoutRetryAfter: 0,
  };
  const flooder: Flooder = { ws, report, lastFrameAt: 0, closingOurselves: false };
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(flooder), 10_000);
    ws.on('message', (data) => {
      flooder.lastFrameAt = Date.now();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(data)) as ServerFrame;
      } catch {
        bump(report.other, '<not JSON>');
        return;
      }
      if (frame.type === 'ready') {
        clearTimeout(timer);
        resolve(flooder);
        return;
      }
      if (frame.type === 'error') {
        bump(report.replies, `error:${frame.code}`);
        if (frame.code === 'rate_limited') {
          if (frame.ref === undefined) report.rateLimitedNotices += 1;
          if (typeof frame.retryAfterMs !== 'number' || frame.retryAfterMs <= 0) {
            report.rateLimitedWithoutRetryAfter += 1;
          }
        }
      } else if (frame.type === 'pong' || frame.type === 'ack') {
        bump(report.replies, frame.type);
      } else {
        bump(report.other, frame.type);
      }
    });
    ws.on('upgrade', () => {
      report.upgrade = 101;
    });
    ws.on('unexpected-response', (_req, res) => {
      report.upgrade = res.statusCode ?? 0;
      clearTimeout(timer);
      resolve(flooder);
      ws.terminate();
    });
    ws.on('close', (code, reason) => {
      if (!flooder.closingOurselves && report.upgrade === 101) {
        report.closedByServer = { code, reason: reason.toString(), afterMs: Date.now() - startedAt };
      }
      clearTimeout(timer);
      resolve(flooder);
    });
    ws.on('error', () => {});
  });
}

function frameOf(spec: FramesAttack, socket: number, i: number): string {
  const kind: FloodFrame = spec.frame;
  switch (kind) {
    case 'read':
      return JSON.stringify({ type: 'read', conv: spec.conv, seq: (i % (spec.maxSeq ?? 1)) + 1 });
    case 'typing-unknown':
      return JSON.stringify({ type: 'typing', conv: `nope${randomBytes(8).toString('hex')}` });
    case 'send':
      return JSON.stringify({
        type: 'send',
        conv: spec.conv,
        clientMsgId: `f${tag}-${socket}-${i}`,
        body: 'flood',
      });
    case 'ping':
      return JSON.stringify({ type: 'ping' });
    case 'auth-garbage':
      return JSON.stringify({ type: 'auth', token: `garbage.${randomBytes(24).toString('base64url')}.x` });
    case 'invalid-json':
      return `{"type":"send","conv":${i}`;
    case 'unknown-type':
      return JSON.stringify({ type: `bogus_${i % 10}` });
  }
}

async function floodOne(flooder: Flooder, spec: FramesAttack, socket: number, endAt: number): Promise<void> {
  const { ws, report } = flooder;
  const begin = Date.now();
  while (Date.now() < endAt && ws.readyState === WebSocket.OPEN) {
    const due = Math.floor(((Date.now() - begin) / 1000) * spec.ratePerSocket) - report.sent;
    for (let k = 0; k < Math.min(due, 2000); k++) {
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES || ws.readyState !== WebSocket.OPEN) break;
      ws.send(frameOf(spec, socket, report.sent));
      report.sent += 1;
    }
    await sleep(5);
  }
}

/** Waits until no frame arrived for 500 ms on any socket (at most 3 s): late answers count too. */
async function drain(flooders: Flooder[]): Promise<void> {
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    const last = Math.max(0, ...flooders.map((f) => f.lastFrameAt));
    if (Date.now() - last >= 500) return;
    await sleep(50);
  }
}

async function frames(spec: FramesAttack): Promise<FramesReport> {
  const t0 = Date.now();
  const flooders = await Promise.all(
    Array.from({ length: spec.sockets }, () => openFlooder(spec.wsUrl, spec.token, t0)),
  );
  started();
  const begin = Date.now();
  const endAt = begin + spec.durationMs;
  await Promise.all(flooders.map((f, i) => floodOne(f, spec, i, endAt)));
  const elapsedMs = Date.now() - begin;
  await drain(flooders);
  for (const f of flooders) {
    f.closingOurselves = true;
    if (f.ws.readyState === WebSocket.OPEN) f.ws.close();
  }
  return { kind: 'frames', elapsedMs, sockets: flooders.map((f) => f.report) };
}

// --- REST send flood -------------------------------------------------------------------

async function postJson(
  url: string,
  body: unknown,
  token?: string,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<{ status: number; code?: string; retryAfter: string | null } | 'timeout'> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let code: string | undefined;
    if (response.status >= 400) {
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '<not a contract body>';
      } catch {
        code = '<not a contract body>';
      }
    }
    return { status: response.status, code, retryAfter: response.headers.get('retry-after') };
  } catch {
    return 'timeout';
  }
}

async function restSend(spec: RestSendAttack): Promise<RestSendReport> {
  const report: RestSendReport = {
    kind: 'rest-send',
    elapsedMs: 0,
    statuses: {},
    codes: {},
    withoutRetryAfter: 0,
    timeouts: 0,
    socketSent: 0,
    socketAcks: 0,
    socketErrors: {},
  };
  const socket =
    spec.socketSendsPerSec > 0 ? await openFlooder(spec.wsUrl, spec.token, Date.now()) : undefined;
  if (socket) {
    socket.ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as ServerFrame;
      if (frame.type === 'ack') report.socketAcks += 1;
      if (frame.type === 'error') bump(report.socketErrors, frame.code ?? '?');
    });
  }
  started();
  const begin = Date.now();
  const endAt = begin + spec.durationMs;
  let n = 0;
  const worker = async () => {
    while (Date.now() < endAt) {
      const answer = await postJson(
        `${spec.url}/api/chat/conversations/${spec.conv}/messages`,
        {
          clientMsgId: `r${tag}-${n++}`,
          body: 'rest flood',
        },
        spec.token,
      );
      if (answer === 'timeout') {
        report.timeouts += 1;
        continue;
      }
      bump(report.statuses, String(answer.status));
      if (answer.code) bump(report.codes, answer.code);
      if (answer.status === 429 && !answer.retryAfter) report.withoutRetryAfter += 1;
    }
  };
  const socketLoop = async () => {
    if (!socket) return;
    const interval = 1000 / spec.socketSendsPerSec;
    while (Date.now() < endAt && socket.ws.readyState === WebSocket.OPEN) {
      socket.ws.send(
        JSON.stringify({
          type: 'send',
          conv: spec.conv,
          clientMsgId: `w${tag}-${report.socketSent}`,
          body: 'ws flood',
        }),
      );
      report.socketSent += 1;
      await sleep(interval);
    }
  };
  await Promise.all([...Array.from({ length: spec.concurrency }, worker), socketLoop()]);
  report.elapsedMs = Date.now() - begin;
  if (socket) {
    await drain([socket]);
    socket.closingOurselves = true;
    socket.ws.close();
  }
  return report;
}

// --- reconnect churn -------------------------------------------------------------------

async function churn(spec: ChurnAttack): Promise<ChurnReport> {
  const report: ChurnReport = {
    kind: 'reconnect-churn',
    elapsedMs: 0,
    connections: 0,
    refused: {},
    sent: 0,
    acks: 0,
    errors: {},
    closes: {},
  };
  started();
  const begin = Date.now();
  const endAt = begin + spec.durationMs;
  while (Date.now() < endAt) {
    const flooder = await openFlooder(spec.wsUrl, spec.token, begin);
    if (flooder.report.upgrade !== 101 || flooder.ws.readyState !== WebSocket.OPEN) {
      bump(report.refused, String(flooder.report.upgrade));
      await sleep(20);
      continue;
    }
    report.connections += 1;
    const ids: string[] = [];
    for (let i = 0; i < spec.burst; i++) {
      const clientMsgId = `c${tag}-${report.connections}-${i}`;
      ids.push(clientMsgId);
      flooder.ws.send(JSON.stringify({ type: 'send', conv: spec.conv, clientMsgId, body: 'churn' }));
    }
    report.sent += spec.burst;
    // Every send is answered (ack or error) — wait for the answers, at most 2 s.
    const until = Date.now() + 2000;
    const answered = () =>
      (flooder.report.replies.ack ?? 0) +
      Object.entries(flooder.report.replies)
        .filter(([k]) => k.startsWith('error:'))
        .reduce((n, [, v]) => n + v, 0);
    while (Date.now() < until && answered() < spec.burst && flooder.ws.readyState === WebSocket.OPEN) {
      await sleep(10);
    }
    report.acks += flooder.report.replies.ack ?? 0;
    for (const [key, count] of Object.entries(flooder.report.replies)) {
      if (key.startsWith('error:')) bump(report.errors, key.slice('error:'.length), count);
    }
    if (flooder.report.closedByServer) bump(report.closes, String(flooder.report.closedByServer.code));
    flooder.closingOurselves = true;
    flooder.ws.close();
  }
  report.elapsedMs = Date.now() - begin;
  return report;
}

// --- registration flood ----------------------------------------------------------------

async function registerFlood(spec: RegisterAttack): Promise<RegisterReport> {
  const report: RegisterReport = {
    kind: 'register-flood',
    elapsedMs: 0,
    statuses: {},
    codes: {},
    withoutRetryAfter: 0,
    timeouts: 0,
  };
  started();
  const begin = Date.now();
  const endAt = begin + spec.durationMs;
  let n = 0;
  const client = async () => {
    while (Date.now() < endAt) {
      // A sign-up is answered within its bounded queue wait plus one 128 MiB hash, and on a
      // busy machine a hash alone takes seconds: a hang is what this catches, not a slow hash.
      const answer = await postJson(
        `${spec.url}/api/auth/register`,
        { username: `${spec.prefix}${tag}${n++}`, password: 'correct horse battery' },
        undefined,
        REGISTER_TIMEOUT_MS,
      );
      if (answer === 'timeout') {
        report.timeouts += 1;
        continue;
      }
      bump(report.statuses, String(answer.status));
      if (answer.code) bump(report.codes, answer.code);
      if (answer.status === 429 && !answer.retryAfter) report.withoutRetryAfter += 1;
    }
  };
  await Promise.all(Array.from({ length: spec.clients }, client));
  report.elapsedMs = Date.now() - begin;
  return report;
}

async function run(spec: AttackSpec): Promise<AttackReport> {
  switch (spec.kind) {
    case 'frames':
      return frames(spec);
    case 'rest-send':
      return restSend(spec);
    case 'reconnect-churn':
      return churn(spec);
    case 'register-flood':
      return registerFlood(spec);
  }
}

const report = await run(JSON.parse(await readStdin()) as AttackSpec);
process.stdout.write(`REPORT ${JSON.stringify(report)}\n`);
process.exit(0);
