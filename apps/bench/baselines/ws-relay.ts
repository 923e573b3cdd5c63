/**
 * The ws baselines: a bare `ws` relay speaking the bench protocol — the same frames as
 * relay-chat (`ready`, `send` → `ack`, `message {conv, seq, id, from, body, ts}`), with no
 * auth and no persistence.
 *
 * Bare broadcast (the default): each message is serialized once, into one Buffer, and that
 * same Buffer goes to every member with `ws.send` (text opcode). Nothing is built per
 * recipient but the 2-byte WebSocket header ws adds. (A string passed to `ws.send` would be
 * UTF-8 encoded again for every socket.)
 *
 * Batched, "the limit" (FLUSH_MS=0, target `ws-batched`): each message's whole WebSocket
 * frame (header + payload) is built once; the frames of one event-loop turn are queued per
 * socket and written to it at the end of the turn (setImmediate) in one corked write — one
 * writev per socket per turn, the same Buffers for every socket. This is the practical limit
 * of fan-out from one Node process: what any relay could reach with no work per message
 * beyond serializing it once. FLUSH_MS=n>0 flushes every n ms instead of every turn.
 *
 * The user and conversations come in the URL: `/ws?user=u1&convs=c1,c2`.
 *
 * Without REDIS_URL it is baseline (1): one process; seq is an in-memory counter per
 * conversation. With REDIS_URL it is baseline (2): run it several times on several ports;
 * a send runs one Lua script that takes the next seq (INCR) and PUBLISHes the message on the
 * conversation's channel in the same step, so every process sees one order; each process
 * subscribes to the channels of its connected members and writes each message to them.
 *
 * Environment: PORT (default 8090), HOST (default 127.0.0.1), REDIS_URL, REDIS_PREFIX
 * (default `bench:`). `GET /ready` answers 200 once it serves.
 *
 * By hand: `npm run bench -- channel --spawn baseline:ws-batched --ladder`, or any window with
 * `--spawn baseline:ws --server-env FLUSH_MS=2`.
 */
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 8090);
const flushMs = process.env.FLUSH_MS === undefined ? undefined : Number(process.env.FLUSH_MS);
const host = process.env.HOST ?? '127.0.0.1';
const redisUrl = process.env.REDIS_URL;
const prefix = process.env.REDIS_PREFIX ?? 'bench:';

interface Member {
  ws: WebSocket;
  user: string;
  convs: Set<string>;
}

const rooms = new Map<string, Set<Member>>();
const seqs = new Map<string, number>();
let nextId = 0;

// KEYS[1] seq counter, KEYS[2] channel; ARGV[1] the frame's tail after "seq":<n>,
const SEND_SCRIPT = `local seq = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[2], seq .. ' ' .. ARGV[1])
return seq`;

interface RelayRedis extends Redis {
  relaySend(seqKey: string, channel: string, tail: string): Promise<number>;
}

let pub: RelayRedis | undefined;
let sub: Redis | undefined;
if (redisUrl) {
  pub = new Redis(redisUrl) as RelayRedis;
  pub.defineCommand('relaySend', { numberOfKeys: 2, lua: SEND_SCRIPT });
  sub = new Redis(redisUrl);
  sub.on('message', (channel: string, payload: string) => {
    const conv = channel.slice(prefix.length + 5);
    const space = payload.indexOf(' ');
    deliver(
      conv,
      `{"type":"message","conv":${JSON.stringify(conv)},"seq":${payload.slice(0, space)},${payload.slice(space + 1)}`,
    );
  });
}

/** `ws.send` options: a Buffer goes out as a text frame, as the JSON it holds. */
const TEXT = { binary: false } as const;

function deliver(conv: string, frame: string): void {
  const room = rooms.get(conv);
  if (!room) return;
  if (flushMs === undefined) {
    // Serialized once per message: the same Buffer for every socket.
    const data = Buffer.from(frame);
    for (const member of room) member.ws.send(data, TEXT);
    return;
  }
  const wire = textFrame(frame);
  for (const member of room) {
    const queue = pending.get(member);
    if (queue) queue.push(wire);
    else pending.set(member, [wire]);
  }
  if (!flushScheduled) {
    flushScheduled = true;
    if (flushMs > 0) setTimeout(flushPending, flushMs);
    else setImmediate(flushPending);
  }
}

/** A complete unmasked WebSocket text frame (FIN, opcode 1) holding `text`, built once. */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const n = payload.length;
  const headerLength = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const wire = Buffer.allocUnsafe(headerLength + n);
  wire[0] = 0x81;
  if (n < 126) wire[1] = n;
  else if (n < 65536) {
    wire[1] = 126;
    wire.writeUInt16BE(n, 2);
  } else {
    wire[1] = 127;
    wire.writeUInt32BE(0, 2);
    wire.writeUInt32BE(n, 6);
  }
  payload.copy(wire, headerLength);
  return wire;
}

interface RawSocket {
  cork(): void;
  uncork(): void;
  write(chunk: Buffer): boolean;
}

// Batched: every frame queued for a socket in this turn (or window), one corked write each.
// The frames go straight to the TCP socket: ws writes its own frames (acks) synchronously
// without per-message deflate, so nothing of ws's can be queued behind or between them.
const pending = new Map<Member, Buffer[]>();
let flushScheduled = false;
function flushPending(): void {
  flushScheduled = false;
  for (const [member, frames] of pending) {
    if (member.ws.readyState !== member.ws.OPEN) continue;
    const socket = (member.ws as unknown as { _socket: RawSocket })._socket;
    if (frames.length === 1) {
      socket.write(frames[0]!);
      continue;
    }
    socket.cork();
    for (const frame of frames) socket.write(frame);
    socket.uncork();
  }
  pending.clear();
}

async function join(member: Member): Promise<void> {
  for (const conv of member.convs) {
    let room = rooms.get(conv);
    if (!room) {
      room = new Set();
      rooms.set(conv, room);
      if (sub) await sub.subscribe(`${prefix}conv:${conv}`);
    }
    room.add(member);
  }
}

function leave(member: Member): void {
  pending.delete(member);
  for (const conv of member.convs) {
    const room = rooms.get(conv);
    room?.delete(member);
    if (room?.size === 0) {
      rooms.delete(conv);
      void sub?.unsubscribe(`${prefix}conv:${conv}`);
    }
  }
}

async function onSend(member: Member, data: RawData): Promise<void> {
  let frame: { type?: unknown; conv?: unknown; clientMsgId?: unknown; body?: unknown };
  try {
    frame = JSON.parse(data.toString()) as typeof frame;
  } catch {
    member.ws.send('{"type":"error","code":"invalid_frame","message":"not JSON"}');
    return;
  }
  const { conv, clientMsgId, body } = frame;
  if (
    frame.type !== 'send' ||
    typeof conv !== 'string' ||
    typeof clientMsgId !== 'string' ||
    typeof body !== 'string'
  ) {
    member.ws.send('{"type":"error","code":"invalid_frame","message":"expected send"}');
    return;
  }
  if (!member.convs.has(conv)) {
    member.ws.send(
      JSON.stringify({ type: 'error', code: 'not_member', message: 'not a member', ref: clientMsgId }),
    );
    return;
  }
  const id = `${process.pid}-${nextId++}`;
  const ts = Date.now();
  const tail = `"id":"${id}","from":${JSON.stringify(member.user)},"body":${JSON.stringify(body)},"ts":${ts}}`;
  let seq: number;
  if (pub) {
    seq = await pub.relaySend(`${prefix}seq:${conv}`, `${prefix}conv:${conv}`, tail);
  } else {
    seq = (seqs.get(conv) ?? 0) + 1;
    seqs.set(conv, seq);
    deliver(conv, `{"type":"message","conv":${JSON.stringify(conv)},"seq":${seq},${tail}`);
  }
  member.ws.send(JSON.stringify({ type: 'ack', clientMsgId, conv, id, seq, ts }));
}

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
const server = createServer((req, res) => {
  res
    .writeHead(req.url === '/ready' ? 200 : 404, { 'content-type': 'text/plain' })
    .end(req.url === '/ready' ? 'ok' : '');
});
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const user = url.searchParams.get('user');
  if (url.pathname !== '/ws' || !user) {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    return;
  }
  const convs = new Set((url.searchParams.get('convs') ?? '').split(',').filter(Boolean));
  wss.handleUpgrade(req, socket, head, (ws) => {
    const member: Member = { ws, user, convs };
    ws.on('message', (data) => {
      onSend(member, data).catch(() => {
        ws.send(JSON.stringify({ type: 'error', code: 'internal', message: 'send failed' }));
      });
    });
    ws.on('close', () => leave(member));
    ws.on('error', () => ws.terminate());
    join(member).then(
      () =>
        ws.send(
          JSON.stringify({ type: 'ready', v: 1, user: { id: user, username: user }, conversations: [] }),
        ),
      () => ws.close(1011, 'internal'),
    );
  });
});
server.listen(port, host);

const stop = () => {
  server.close();
  pub?.disconnect();
  sub?.disconnect();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
