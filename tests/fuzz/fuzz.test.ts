/**
 * A seeded fuzzer against the embedded server (a child process): at least 1,000 mutated
 * WebSocket frames and 300 mutated REST requests per run. The server must never crash or
 * hang, and every answer must be a success or a typed error of the closed set in the
 * contract's shape — while a control pair keeps chatting, unaffected. The seed is printed;
 * FUZZ_SEED=<n> replays a run.
 */
import { randomUUID } from 'node:crypto';
import { type ErrorCode, httpStatusOf, isErrorCode } from '@relay-chat/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type ControlPair,
  PAIR_P99_FLOOR_MS,
  type PairStats,
  pairP99Bound,
  startControlPair,
} from '../support/control-pair.js';
import { type EmbeddedProcess, startEmbeddedProcess } from '../support/embedded-process.js';
import { createConversation, registerUser, request, type TestUser } from '../support/http.js';
import {
  FORBIDDEN_CONTROLS,
  type FuzzContext,
  type FuzzFrame,
  fuzzFrame,
  fuzzRequest,
  LONE_SURROGATES,
  Rng,
} from './mutations.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_240_601);
const FRAMES = 1000;
const REQUESTS = 300;
/** Every answer must come within this long. */
const ANSWER_WITHIN_MS = 5000;
/**
 * Logins and sign-ups wait their turn for a password hash (128 MiB scrypt, bounded queues):
 * on a busy machine a queued one is answered after several hashes, not in 5 s.
 */
const HASHING_ANSWER_WITHIN_MS = 20_000;
const answerWithinMs = (path: string) =>
  /^\/api\/auth\/(login|register)\b/.test(path) ? HASHING_ANSWER_WITHIN_MS : ANSWER_WITHIN_MS;
/** Frames between two pings that check the socket still answers. */
const BATCH = 10;
const SERVER_FRAME_TYPES = new Set([
  'ready',
  'message',
  'ack',
  'typing',
  'presence',
  'read',
  'conversation',
  'error',
  'pong',
]);
/** Close codes of the contract a fuzzed frame may end a connection with. */
const CONTRACT_CLOSES = new Set([1008, 1009, 4001, 4002, 4003]);

let server: EmbeddedProcess;
let pair: ControlPair;
let idle: PairStats;
let fuzzer: TestUser;
let ctx: FuzzContext;

beforeAll(async () => {
  console.log(`[fuzz] seed ${SEED} (set FUZZ_SEED to replay)`);
  // Budgets high enough that the fuzzer's own pace is never what gets refused.
  server = await startEmbeddedProcess('fuzz', {
    INBOUND_FRAMES_PER_SEC: '100000',
    INBOUND_BURST: '100000',
    SEND_RATE_PER_SEC: '100000',
    SEND_BURST: '100000',
    GROUPS_PER_HOUR: '100000',
  });
  pair = await startControlPair(server, { label: 'fzpair' });
  const [f, other, stranger] = await Promise.all(
    ['fuzzer', 'fzother', 'fzstranger'].map((n) =>
      registerUser(server.url, `${n}${randomUUID().slice(0, 4)}`),
    ),
  );
  fuzzer = f!;
  const dm = await createConversation(server.url, fuzzer, { kind: 'dm', with: other!.id });
  const foreign = await createConversation(server.url, other!, { kind: 'dm', with: stranger!.id });
  for (let i = 0; i < 3; i++) {
    await request(server.url, 'POST', `/api/chat/conversations/${dm.id}/messages`, {
      token: other!.accessToken,
      body: { clientMsgId: `seed-${i}`, body: `seed ${i}` },
    });
  }
  ctx = {
    conv: dm.id,
    foreignConv: foreign.id,
    userId: fuzzer.id,
    token: fuzzer.accessToken,
    otherUserId: other!.id,
  };
  await pair.measure(2000); // warm-up
  idle = await pair.measure(5000);
  console.log(`[fuzz] control pair idle: ${JSON.stringify(idle)}`);
}, 180_000);

afterAll(async () => {
  pair?.close();
  await server?.stop();
});

/** Findings of one run: each a short description with what was sent and what came back. */
interface Findings {
  bad: string[];
  answers: Record<string, number>;
}

function note(findings: Findings, key: string): void {
  findings.answers[key] = (findings.answers[key] ?? 0) + 1;
}

/** Checks one server frame against the contract; returns a problem or undefined. */
function frameProblem(frame: unknown): string | undefined {
  if (typeof frame !== 'object' || frame === null) return `not an object: ${JSON.stringify(frame)}`;
  const { type, code, message } = frame as { type?: unknown; code?: unknown; message?: unknown };
  if (typeof type !== 'string' || !SERVER_FRAME_TYPES.has(type))
    return `unknown server frame type ${String(type)}`;
  if (type === 'error') {
    if (!isErrorCode(code)) return `error code ${String(code)} not in the closed set`;
    if (code === 'internal') return 'internal error';
    if (typeof message !== 'string') return 'error frame without a message';
  }
  return undefined;
}

/** A raw socket that records every frame and its close. */
class FuzzSocket {
  readonly frames: Record<string, unknown>[] = [];
  closed: { code: number; reason: string } | undefined;
  private wake: (() => void) | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(String(data)) as Record<string, unknown>;
      } catch {
        parsed = { type: `<unparsable${isBinary ? ' binary' : ''}>` };
      }
      this.frames.push(parsed);
      this.wake?.();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake?.();
    });
    ws.on('error', () => {});
  }

  static open(wsUrl: string, token: string): Promise<FuzzSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
      const socket = new FuzzSocket(ws);
      const timer = setTimeout(() => reject(new Error('no ready within 10 s')), 10_000);
      const check = () => {
        if (socket.frames.some((f) => f.type === 'ready')) {
          clearTimeout(timer);
          resolve(socket);
        }
      };
      ws.on('message', check);
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`upgrade refused with HTTP ${res.statusCode}`));
      });
    });
  }

  send(frame: FuzzFrame): void {
    if (frame.kind === 'text') this.ws.send(frame.text);
    else this.ws.send(frame.bytes, { binary: true });
  }

  /** Waits until a frame matches (from index `from`), the socket closes, or `ms` pass. */
  async waitFor(
    match: (f: Record<string, unknown>) => boolean,
    ms: number,
    from = 0,
  ): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.frames.slice(from).find(match);
      if (found || this.closed) return found;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

async function fuzzFrames(rng: Rng): Promise<Findings> {
  const findings: Findings = { bad: [], answers: {} };
  let socket = await FuzzSocket.open(server.wsUrl, ctx.token);
  let checked = 0;
  const audit = () => {
    for (const frame of socket.frames.slice(checked)) {
      const problem = frameProblem(frame);
      if (problem) findings.bad.push(`frame answer: ${problem}`);
      note(findings, frame.type === 'error' ? `error:${String(frame.code)}` : String(frame.type));
    }
    checked = socket.frames.length;
  };
  const reopen = async (why: string) => {
    audit();
    const closed = socket.closed;
    if (closed && !CONTRACT_CLOSES.has(closed.code)) {
      findings.bad.push(`${why}: closed with ${closed.code} "${closed.reason}", not a contract close code`);
    }
    if (closed) note(findings, `close:${closed.code}`);
    socket.ws.terminate();
    socket = await FuzzSocket.open(server.wsUrl, ctx.token);
    checked = 0;
  };
  let lastFrames: string[] = [];
  for (let n = 0; n < FRAMES; n++) {
    const frame = fuzzFrame(rng, ctx, n);
    lastFrames.push(
      frame.kind === 'text' ? frame.text.slice(0, 120) : `<binary ${frame.bytes.length} bytes>`,
    );
    socket.send(frame);
    if (n % BATCH === BATCH - 1 || n === FRAMES - 1) {
      const ref = `batch-${n}`;
      const from = socket.frames.length;
      socket.ws.send(JSON.stringify({ type: 'ping', ref }));
      const started = Date.now();
      const pong = await socket.waitFor((f) => f.type === 'pong' && f.ref === ref, ANSWER_WITHIN_MS, from);
      if (!pong) {
        if (socket.closed) await reopen(`after ${JSON.stringify(lastFrames)}`);
        else {
          findings.bad.push(
            `no pong within ${Date.now() - started} ms after frames ${JSON.stringify(lastFrames)}`,
          );
          await reopen('hung socket');
        }
      }
      lastFrames = [];
    }
  }
  audit();
  socket.ws.close();
  return findings;
}

/** Bodies that must be refused: lone surrogates and control characters other than \n and \t. */
async function forbiddenBodiesOverSocket(): Promise<string[]> {
  const wrong: string[] = [];
  const socket = await FuzzSocket.open(server.wsUrl, ctx.token);
  const bodies = [...LONE_SURROGATES, ...FORBIDDEN_CONTROLS.map((c) => `a${c}b`)];
  for (const [i, body] of bodies.entries()) {
    const id = `forbidden-${i}`;
    // JSON.stringify escapes a lone surrogate (\ud800), so it reaches the server intact.
    socket.ws.send(JSON.stringify({ type: 'send', conv: ctx.conv, clientMsgId: id, ref: id, body }));
    const answer = await socket.waitFor(
      (f) => (f.type === 'error' && f.ref === id) || (f.type === 'ack' && f.clientMsgId === id),
      ANSWER_WITHIN_MS,
    );
    const got = answer ? (answer.type === 'ack' ? 'ack (stored)' : String(answer.code)) : 'no answer';
    if (got !== 'invalid_frame') wrong.push(`${escaped(body)} → ${got}`);
  }
  socket.ws.close();
  return wrong;
}

/** A string with every control character and surrogate written as \uXXXX, for messages. */
function escaped(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const plain =
      unit >= 0x20 && unit !== 0x7f && !(unit >= 0x80 && unit <= 0x9f) && !(unit >= 0xd800 && unit <= 0xdfff);
    out += plain ? text[i] : `\\u${unit.toString(16).padStart(4, '0')}`;
  }
  return `"${out}"`;
}

interface RestAnswer {
  status: number;
  ms: number;
  problem?: string;
}

async function send(req: {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}): Promise<RestAnswer> {
  const started = Date.now();
  try {
    const response = await fetch(new URL(req.path, server.url), {
      method: req.method,
      headers: req.headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
      signal: AbortSignal.timeout(answerWithinMs(req.path)),
    });
    const text = await response.text();
    const ms = Date.now() - started;
    if (response.status < 400) return { status: response.status, ms };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return {
        status: response.status,
        ms,
        problem: `HTTP ${response.status} with a non-JSON body: ${text.slice(0, 80)}`,
      };
    }
    const error = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
    if (!error || !isErrorCode(error.code) || typeof error.message !== 'string') {
      return {
        status: response.status,
        ms,
        problem: `HTTP ${response.status} without the contract error body: ${text.slice(0, 120)}`,
      };
    }
    if (error.code === 'internal')
      return { status: response.status, ms, problem: `internal error (HTTP ${response.status})` };
    if (httpStatusOf(error.code) !== response.status) {
      return {
        status: response.status,
        ms,
        problem: `code ${error.code} with HTTP ${response.status}, expected ${httpStatusOf(error.code)}`,
      };
    }
    return { status: response.status, ms };
  } catch (err) {
    return {
      status: 0,
      ms: Date.now() - started,
      problem: `no answer within ${answerWithinMs(req.path)} ms (${(err as Error).message})`,
    };
  }
}

async function fuzzRequests(rng: Rng): Promise<Findings> {
  const findings: Findings = { bad: [], answers: {} };
  for (let n = 0; n < REQUESTS; n++) {
    const req = fuzzRequest(rng, ctx, n);
    const answer = await send(req);
    note(findings, String(answer.status));
    if (answer.problem) {
      findings.bad.push(
        `${req.method} ${req.path.slice(0, 100)} (${req.headers['content-type'] ?? 'no content-type'}, body ${(req.body ?? '').slice(0, 80)}): ${answer.problem}`,
      );
    }
  }
  return findings;
}

async function forbiddenBodiesOverRest(): Promise<string[]> {
  const wrong: string[] = [];
  const bodies = [...LONE_SURROGATES, ...FORBIDDEN_CONTROLS.map((c) => `a${c}b`)];
  for (const [i, body] of bodies.entries()) {
    const answer = await request<{ error?: { code: ErrorCode } }>(
      server.url,
      'POST',
      `/api/chat/conversations/${ctx.conv}/messages`,
      { token: ctx.token, body: JSON.stringify({ clientMsgId: `rest-forbidden-${i}`, body }) },
    );
    const got = answer.status === 400 ? answer.body.error?.code : `HTTP ${answer.status}`;
    if (got !== 'validation_failed') wrong.push(`${escaped(body)} → ${got}`);
  }
  return wrong;
}

describe(`the fuzzer (seed ${SEED})`, () => {
  it(`answers ${FRAMES} mutated frames and ${REQUESTS} mutated requests with successes or typed errors, never crashing or hanging, while the control pair chats on`, async () => {
    const rng = new Rng(SEED);
    let frames: Findings | undefined;
    let requests: Findings | undefined;
    const fuzzing = (async () => {
      frames = await fuzzFrames(rng);
      requests = await fuzzRequests(rng);
    })();
    const during = await pair.measure(5000, { until: fuzzing });
    await fuzzing;
    console.log(`[fuzz] seed ${SEED}: frame answers ${JSON.stringify(frames!.answers)}`);
    console.log(`[fuzz] seed ${SEED}: request statuses ${JSON.stringify(requests!.answers)}`);
    console.log(`[fuzz] control pair during: ${JSON.stringify(during)}`);
    const health = await request(server.url, 'GET', '/api/chat/health').catch(() => ({ status: 0 }));
    expect(
      server.process.running,
      `the server exited: ${JSON.stringify(server.process.exit)}\n${server.logTail()}`,
    ).toBe(true);
    expect(health.status, 'health after fuzzing').toBe(200);
    expect.soft(frames!.bad, `seed ${SEED}: socket answers outside the contract`).toEqual([]);
    expect.soft(requests!.bad, `seed ${SEED}: HTTP answers outside the contract`).toEqual([]);
    const bound = pairP99Bound(idle.p99);
    expect
      .soft(
        during.p99,
        `control pair p99 expected < max(2×${idle.p99}+50, ${PAIR_P99_FLOOR_MS}) = ${bound} ms (${JSON.stringify(during)})`,
      )
      .toBeLessThan(bound);
    expect
      .soft(
        during.lost + during.duplicated + during.unacked,
        `control pair lost/duplicated/unacked (${JSON.stringify(during)})`,
      )
      .toBe(0);
  }, 90_000);

  it('refuses message bodies with a lone surrogate or a control character other than \\n and \\t (invalid_frame / validation_failed)', async () => {
    const overSocket = await forbiddenBodiesOverSocket();
    const overRest = await forbiddenBodiesOverRest();
    expect.soft(overSocket, 'socket sends answered other than invalid_frame').toEqual([]);
    expect.soft(overRest, 'REST sends answered other than 400 validation_failed').toEqual([]);
  }, 60_000);
});
