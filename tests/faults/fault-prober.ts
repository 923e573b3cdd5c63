/**
 * Probes a deployment while a fault lasts: a REST request and a new socket, again and again.
 * Each must get an answer within 2 s — a success, or a typed refusal of the contract
 * (REST: 503 `unavailable`; a socket: a refused upgrade 503, or a close 1013) — never a hang,
 * never `internal`/500/1011, never a bare proxy error.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import WebSocket from 'ws';

export const ANSWER_WITHIN_MS = 2000;
/** 503 codes a client may see while a dependency or a replica is away. */
const TYPED_UNAVAILABLE = new Set(['unavailable', 'server_shutting_down']);
/** Close codes that tell a client to come back later (1013) or elsewhere (1012). */
const TYPED_CLOSES = new Set([1012, 1013]);

export interface ProbeTally {
  /** Answered with a success. */
  ok: number;
  /** Answered with a typed refusal (the contract's 503 / 1013). */
  typed: number;
  /** Everything else: what was probed and what came back. */
  bad: string[];
}

export interface ProbeTarget {
  url: string;
  wsUrl: string;
  token: string;
  /** A conversation of the probing user, for REST sends. */
  conv: string;
}

/** Probes until `stop()` is called; resolves with the tally. */
export function startProber(target: ProbeTarget): { stop(): Promise<ProbeTally> } {
  const tally: ProbeTally = { ok: 0, typed: 0, bad: [] };
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const [rest, socket] = await Promise.all([probeRest(target, i), probeSocket(target)]);
      for (const answer of [rest, socket]) {
        if (answer === 'ok') tally.ok += 1;
        else if (answer === 'typed') tally.typed += 1;
        else tally.bad.push(answer);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return tally;
    },
  };
}

type Answer = 'ok' | 'typed' | string;

/**
 * One REST request on a connection of its own (no keep-alive pool): a probe tests what a
 * new request meets, not whether a pooled connection died with the process that held it.
 */
function probeRest(target: ProbeTarget, i: number): Promise<Answer> {
  const write = i % 2 === 0;
  const what = write ? 'REST send' : 'REST GET /conversations';
  const started = Date.now();
  const url = new URL(
    write ? `/api/chat/conversations/${target.conv}/messages` : '/api/chat/conversations',
    target.url,
  );
  const body = write ? JSON.stringify({ clientMsgId: randomUUID(), body: 'probe' }) : undefined;
  return new Promise((resolve) => {
    const req = httpRequest(
      url,
      {
        method: write ? 'POST' : 'GET',
        agent: false,
        headers: {
          authorization: `Bearer ${target.token}`,
          ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
        },
        timeout: ANSWER_WITHIN_MS,
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve('ok');
          const code = codeOf(text);
          if (status === 503 && code && TYPED_UNAVAILABLE.has(code)) return resolve('typed');
          resolve(
            `${what}: HTTP ${status} ${code ?? `non-contract body ${JSON.stringify(text.slice(0, 80))}`} after ${Date.now() - started} ms`,
          );
        });
        res.on('error', (err) => resolve(`${what}: answer cut off (${err.message})`));
      },
    );
    req.on('timeout', () => {
      req.destroy(new Error('timeout'));
    });
    req.on('error', (err) =>
      resolve(
        Date.now() - started >= ANSWER_WITHIN_MS
          ? `${what}: no answer within ${ANSWER_WITHIN_MS} ms`
          : `${what}: failed after ${Date.now() - started} ms (${err.message})`,
      ),
    );
    req.end(body);
  });
}

function probeSocket(target: ProbeTarget): Promise<Answer> {
  return new Promise((resolve) => {
    const started = Date.now();
    const ws = new WebSocket(target.wsUrl, { headers: { authorization: `Bearer ${target.token}` } });
    let settled = false;
    const finish = (answer: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
      ws.terminate();
    };
    const timer = setTimeout(
      () => finish(`new socket: neither ready nor a typed refusal within ${ANSWER_WITHIN_MS} ms`),
      ANSWER_WITHIN_MS,
    );
    ws.once('message', (data) => {
      const type = (JSON.parse(String(data)) as { type?: string }).type;
      finish(type === 'ready' ? 'ok' : `new socket: first frame ${type}`);
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on('end', () => {
        const code = codeOf(text);
        finish(
          res.statusCode === 503 && code && TYPED_UNAVAILABLE.has(code)
            ? 'typed'
            : `new socket: upgrade refused with HTTP ${res.statusCode} ${code ?? JSON.stringify(text.slice(0, 80))}`,
        );
      });
    });
    ws.once('close', (code, reason) =>
      finish(
        TYPED_CLOSES.has(code)
          ? 'typed'
          : `new socket: closed ${code} "${reason.toString()}" before ready, after ${Date.now() - started} ms`,
      ),
    );
    ws.on('error', () => {});
  });
}

function codeOf(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}
