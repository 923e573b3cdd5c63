/**
 * Seeded random inputs for the fuzzer: valid client frames and REST requests, then mutated —
 * wrong types, huge and odd strings, extra fields, deep nesting, truncation, bad ids,
 * binary frames, oversized bodies, bad content types, very long paths and query strings.
 * The same seed gives the same inputs (mulberry32), so a failure is replayed with FUZZ_SEED.
 */
import { seeded } from '@relay-chat/testkit';

/** The fuzzer's deterministic random source (testkit's `seeded`), with helpers for picking inputs. */
export class Rng {
  private readonly random: () => number;

  constructor(seed: number) {
    this.random = seeded(seed);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.random();
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** What the fuzzer knows of the world it fuzzes. */
export interface FuzzContext {
  /** A conversation the fuzzing user is in, with a few messages. */
  conv: string;
  /** A conversation the fuzzing user is not in. */
  foreignConv: string;
  /** The fuzzing user's id and a valid access token. */
  userId: string;
  token: string;
  /** Another user's id. */
  otherUserId: string;
}

/** Strings that have broken parsers and validators before. */
const ODD_STRINGS = [
  '',
  ' ',
  '0',
  '-1',
  'null',
  'undefined',
  'NaN',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  '../../etc/passwd',
  '%00',
  '%',
  '%%',
  '%E0%A4%A',
  "'; DROP TABLE messages; --",
  '<script>alert(1)</script>',
  `\${jndi:ldap://x}`,
  'ﷺ',
  'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗͍',
  '👩‍👩‍👧‍👦🏳️‍🌈',
  '\u202Eevil\u202C',
  '\u200B\u200C\u200D\uFEFF',
  'שלום עולם',
  '𝕳𝖊𝖑𝖑𝖔',
  'a\nb\tc',
];

/** Control characters a message body must not carry (all of Cc but \n and \t). */
export const FORBIDDEN_CONTROLS = [
  '\u0000',
  '\u0001',
  '\u0007',
  '\u0008',
  '\u000B',
  '\u000C',
  '\r',
  '\u001B',
  '\u001F',
  '\u007F',
  '\u0085',
  '\u009F',
];

export const LONE_SURROGATES = ['\uD800', '\uDBFF', '\uDC00', '\uDFFF', 'a\uD83Db', 'end\uD83D'];

function randomString(rng: Rng): string {
  switch (rng.int(0, 5)) {
    case 0:
      return rng.pick(ODD_STRINGS);
    case 1:
      return 'x'.repeat(rng.pick([63, 64, 65, 255, 256, 1000, 3999, 4000, 4001, 8000, 20_000]));
    case 2:
      return Array.from({ length: rng.int(1, 40) }, () => String.fromCodePoint(rng.int(0x20, 0x2ffff))).join(
        '',
      );
    case 3:
      return `fz${rng.int(0, 1e9).toString(36)}`;
    case 4:
      return rng.pick(ODD_STRINGS) + rng.pick(ODD_STRINGS);
    default:
      return String.fromCharCode(...Array.from({ length: rng.int(1, 20) }, () => rng.int(0x20, 0x7e)));
  }
}

function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(0, depth > 2 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1, 1.5, -0, 2 ** 31, 2 ** 53 + 1, 1e308, -1e308, Number.MAX_SAFE_INTEGER]);
    case 3:
    case 4:
    case 5:
      return randomString(rng);
    case 6:
      return Array.from({ length: rng.int(0, 4) }, () => randomValue(rng, depth + 1));
    case 7:
      return Object.fromEntries(
        Array.from({ length: rng.int(0, 4) }, () => [
          randomString(rng).slice(0, 20),
          randomValue(rng, depth + 1),
        ]),
      );
    default:
      return deepNesting(rng.int(10, 2000));
  }
}

function deepNesting(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { a: value };
  return value;
}

function badId(rng: Rng, ctx: FuzzContext): string {
  return rng.pick([
    '',
    'a'.repeat(65),
    '../x',
    'x y',
    'ünïcode',
    ctx.foreignConv,
    `nope${rng.int(0, 1e6)}`,
    '0',
    '%2e%2e',
    'null',
    ctx.otherUserId,
  ]);
}

/** A WebSocket frame to send: text, or binary bytes. */
export type FuzzFrame = { kind: 'text'; text: string } | { kind: 'binary'; bytes: Buffer };

function validFrame(rng: Rng, ctx: FuzzContext, n: number): Record<string, unknown> {
  switch (rng.int(0, 4)) {
    case 0:
      return { type: 'send', conv: ctx.conv, clientMsgId: `fz-${n}`, body: `fuzz ${n}` };
    case 1:
      return { type: 'typing', conv: ctx.conv };
    case 2:
      return { type: 'read', conv: ctx.conv, seq: rng.int(0, 3) };
    case 3:
      return { type: 'auth', token: ctx.token };
    default:
      return { type: 'ping', ref: `p${n}` };
  }
}

/** The n-th fuzz frame. */
export function fuzzFrame(rng: Rng, ctx: FuzzContext, n: number): FuzzFrame {
  const frame = validFrame(rng, ctx, n);
  const keys = Object.keys(frame);
  const mutation = rng.int(0, 15);
  switch (mutation) {
    case 0:
      return { kind: 'text', text: JSON.stringify(frame) }; // valid
    case 1:
      frame[rng.pick(keys)] = randomValue(rng); // wrong type / odd value
      break;
    case 2:
      frame[rng.pick(['extra', 'isAdmin', 'v', 'seq', 'from', 'id'])] = randomValue(rng);
      break;
    case 3:
      delete frame[rng.pick(keys)];
      break;
    case 4:
      frame.type = rng.pick([
        'Send',
        'SEND',
        'message',
        'ack',
        'ready',
        '',
        ' send',
        'send ',
        'ping\u0000',
        randomString(rng),
      ]);
      break;
    case 5:
      frame.conv = badId(rng, ctx);
      break;
    case 6: {
      // Deeper than JSON.stringify can recurse: the nesting is written as text.
      const depth = rng.int(100, 20_000);
      frame[rng.pick(keys)] = '__deep__';
      const text = JSON.stringify(frame).replace('"__deep__"', `${'['.repeat(depth)}1${']'.repeat(depth)}`);
      return { kind: 'text', text };
    }
    case 7: {
      const text = JSON.stringify(frame);
      return { kind: 'text', text: text.slice(0, rng.int(0, Math.max(0, text.length - 1))) };
    }
    case 8:
      return { kind: 'binary', bytes: Buffer.from(JSON.stringify(frame)) };
    case 9:
      return {
        kind: 'binary',
        bytes: Buffer.from(Array.from({ length: rng.int(0, 64) }, () => rng.int(0, 255))),
      };
    case 10:
      return {
        kind: 'text',
        text: rng.pick([
          '',
          'null',
          '[]',
          '"send"',
          '42',
          'true',
          '{',
          '}',
          '{"type":"ping"}{"type":"ping"}',
          '\uFEFF{"type":"ping"}',
        ]),
      };
    case 11:
      return { kind: 'text', text: JSON.stringify([frame]) };
    case 12:
      // Over the 64 KiB frame limit (closes the socket with 1009), rarely.
      if (rng.chance(0.1))
        return { kind: 'text', text: JSON.stringify({ ...frame, body: 'x'.repeat(70_000) }) };
      frame.body = 'y'.repeat(rng.pick([4000, 4001, 10_000, 60_000]));
      break;
    case 13:
      return {
        kind: 'text',
        text: `{"type":"send","__proto__":{"admin":true},"conv":${JSON.stringify(ctx.conv)},"clientMsgId":"p${n}","body":"x"}`,
      };
    case 14:
      frame.seq = rng.pick([-1, 0.5, 1e20, '1', null, Number.MAX_SAFE_INTEGER]);
      break;
    default:
      frame.ref = rng.pick(['', 'r'.repeat(65), 7, null, { a: 1 }, 'ok-ref']);
      break;
  }
  return { kind: 'text', text: JSON.stringify(frame) };
}

/** A query-string value; lone surrogates (which encodeURIComponent refuses) become U+FFFD. */
function query(text: string): string {
  return encodeURIComponent(
    text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'),
  );
}

/** A REST request to make. `body` is sent as is (a string), with `contentType` when given. */
export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function validRequest(
  rng: Rng,
  ctx: FuzzContext,
  n: number,
): { method: string; path: string; body?: Record<string, unknown> } {
  // Registration and login hash a password (~0.3 s of a core each): a small share, so the
  // fuzzer tests their validation without turning into a hashing load test.
  const pick = rng.int(0, 27);
  switch (pick < 2 ? pick : 2 + (pick % 12)) {
    case 0:
      return {
        method: 'POST',
        path: '/api/auth/register',
        body: { username: `fz${n}x${rng.int(0, 1e6)}`, password: 'correct horse battery' },
      };
    case 1:
      return {
        method: 'POST',
        path: '/api/auth/login',
        body: { username: `fz${n}`, password: 'wrong password' },
      };
    case 2:
      return { method: 'POST', path: '/api/auth/refresh', body: { refreshToken: `rt${rng.int(0, 1e9)}` } };
    case 3:
      return {
        method: 'GET',
        path: `/api/auth/users?q=${query(randomString(rng).slice(0, 30))}&limit=${rng.int(1, 100)}`,
      };
    case 4:
      return { method: 'GET', path: `/api/auth/users/${ctx.otherUserId}` };
    case 5:
      return { method: 'GET', path: '/api/chat/conversations' };
    case 6:
      return {
        method: 'POST',
        path: '/api/chat/conversations',
        body: { kind: 'channel', name: `fz ${n} ${rng.int(0, 1e6)}` },
      };
    case 7:
      return { method: 'GET', path: `/api/chat/conversations/${ctx.conv}` };
    case 8:
      return {
        method: 'GET',
        path: `/api/chat/conversations/${ctx.conv}/messages?after=${rng.int(0, 5)}&limit=${rng.int(1, 200)}`,
      };
    case 9:
    case 10:
      return {
        method: 'POST',
        path: `/api/chat/conversations/${ctx.conv}/messages`,
        body: { clientMsgId: `rz-${n}`, body: `rest fuzz ${n}` },
      };
    case 11:
      return {
        method: 'POST',
        path: `/api/chat/conversations/${ctx.conv}/read`,
        body: { seq: rng.int(0, 3) },
      };
    case 12:
      return {
        method: 'GET',
        path: `/api/chat/channels?q=${query(randomString(rng).slice(0, 20))}&limit=${rng.int(1, 100)}`,
      };
    default:
      return { method: 'GET', path: `/api/chat/presence?users=${ctx.otherUserId},${ctx.userId}` };
  }
}

/** The n-th fuzz request. */
export function fuzzRequest(rng: Rng, ctx: FuzzContext, n: number): FuzzRequest {
  const base = validRequest(rng, ctx, n);
  const headers: Record<string, string> = { authorization: `Bearer ${ctx.token}` };
  let path = base.path;
  let method = base.method;
  let body: string | undefined;
  const record = base.body;
  let contentType: string | undefined = record ? 'application/json' : undefined;
  const mutation = rng.int(0, 15);
  if (record) {
    const keys = Object.keys(record);
    if (mutation === 1) record[rng.pick(keys)] = randomValue(rng);
    if (mutation === 2) record[rng.pick(['extra', 'admin', 'id', '__proto__x'])] = randomValue(rng);
    if (mutation === 3) delete record[rng.pick(keys)];
    if (mutation === 4) record[rng.pick(keys)] = deepNesting(rng.int(10, 1500));
    if (mutation === 5) record[rng.pick(keys)] = 'z'.repeat(rng.pick([4001, 17_000, 100_000])); // oversized
    body = JSON.stringify(record);
    if (mutation === 6) body = body.slice(0, rng.int(0, body.length - 1)); // truncated
    if (mutation === 7)
      contentType = rng.pick([
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/json; charset=latin1',
        '',
        'application/jsonx',
      ]);
    if (mutation === 8) body = rng.pick(['', 'null', '[]', '42', '"x"', '{', '\uFEFF{}', '{"a":1}{"b":2}']);
  }
  if (mutation === 9)
    path = `${path.split('?')[0]}?${'q=' + 'a'.repeat(rng.int(1000, 7000))}&x=${'%'.repeat(rng.int(0, 3))}`;
  if (mutation === 10) path = `/api/chat/${'seg/'.repeat(rng.int(100, 1500))}end`;
  if (mutation === 11) path = path.replace(/[A-Za-z0-9_-]{20,}/, badId(rng, ctx) || 'x');
  if (mutation === 12) method = rng.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS']);
  if (mutation === 13)
    headers.authorization = rng.pick([
      'Bearer ',
      'Bearer x.y.z',
      'Basic Zm9vOmJhcg==',
      `Bearer ${ctx.token}x`,
      'bearer',
      `Bearer ${'a'.repeat(4000)}`,
    ]);
  if (mutation === 14)
    path = `${path.split('?')[0]}?${rng.pick(['limit=-1', 'limit=abc', 'limit=1e9', 'after=x', 'before=-5', 'cursor=%ZZ', 'limit=1&limit=2', 'users=' + ',x'.repeat(300), 'q=%ED%A0%80'])}`;
  if (mutation === 15) {
    headers.accept = 'text/html';
    headers['x-forwarded-for'] = rng.pick(['garbage', '999.1.1.1', '127.0.0.1, 10.0.0.1', '::1']);
  }
  if (contentType !== undefined) headers['content-type'] = contentType;
  return { method, path, headers, ...(body !== undefined && method !== 'GET' ? { body } : {}) };
}
