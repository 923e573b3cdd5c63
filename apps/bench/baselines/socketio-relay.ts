/**
 * Baseline (3): Socket.IO with `@socket.io/redis-adapter`, speaking the bench protocol as
 * Socket.IO events: the handshake query carries `user` and `convs`; the server joins the
 * socket to one room per conversation and emits `ready`; a `send {conv, clientMsgId, body}`
 * takes the next seq from Redis (INCR), broadcasts `message {conv, seq, id, from, body, ts}`
 * to the room through the adapter (every process), and emits `ack` to the sender. Errors
 * are `failure {code, ref}` events. No auth, no persistence; run it on several ports.
 *
 * The seq comes from one INCR and the broadcast is a separate publish, as a plain Socket.IO
 * app would do it: two processes may publish two messages of one conversation in the
 * opposite order of their seqs, which the tester reports as out of order.
 *
 * Configured as the Socket.IO documentation recommends for throughput
 * (https://socket.io/docs/v4/performance-tuning/, https://socket.io/docs/v4/redis-adapter/):
 * - `transports: ['websocket']` and no HTTP long-polling upgrade dance: the bench client
 *   connects with WebSocket only, as every other system here;
 * - `perMessageDeflate: false` (the default since Socket.IO 3, set explicitly): no per-message
 *   compression, as every other system here;
 * - ws's native add-on `bufferutil` is installed (an optionalDependency of apps/bench; its
 *   engines field allows any Node ≥ 6.14.2 and it ships a linux-x64 prebuild, so Node 20
 *   needs no compiler). `utf-8-validate` is not: on Node ≥ 18.14 ws validates UTF-8 with
 *   `buffer.isUtf8` and never loads it. (ws loads bufferutil in every process that has it
 *   installed — the other ws-based systems and the generators get it too, so the comparison
 *   stays like for like.);
 * - the initial HTTP request of each connection is dropped once connected, which the tuning
 *   page recommends to save memory. The page drops it in `io.engine.on('connection')`, but
 *   Socket.IO 4.8 builds `socket.handshake` (whose query carries `user` and `convs` here)
 *   from that request later, so it is dropped in the `connection` handler, after reading it;
 * - the sharded Redis adapter (`createShardedAdapter`, Redis ≥ 7 sharded Pub/Sub: SPUBLISH to
 *   one channel per room, each process subscribes only to the rooms it has members in), which
 *   the redis-adapter page recommends for new developments, with ioredis (which the page
 *   prefers over `redis` for restoring subscriptions after a reconnect);
 * - broadcasts go through `io.to(room).emit`, which encodes a packet once for the whole room.
 * Not used: a custom parser (msgpack helps binary payloads; these are small JSON objects) and
 * eiows (a different WebSocket server, not Socket.IO's default).
 *
 * Environment: PORT (default 8091), HOST (default 127.0.0.1), REDIS_URL (absent: one process,
 * in-memory adapter and seqs), REDIS_PREFIX (default `bench:`). `GET /ready` answers 200.
 */
import { createServer } from 'node:http';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 8091);
const host = process.env.HOST ?? '127.0.0.1';
const redisUrl = process.env.REDIS_URL;
const prefix = process.env.REDIS_PREFIX ?? 'bench:';

const httpServer = createServer((req, res) => {
  if (req.url === '/ready') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
});
const io = new Server(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
});

let redis: Redis | undefined;
let sub: Redis | undefined;
if (redisUrl) {
  redis = new Redis(redisUrl);
  sub = redis.duplicate();
  io.adapter(createShardedAdapter(redis, sub, { channelPrefix: `${prefix}socket.io` }));
}

const seqs = new Map<string, number>();
let nextId = 0;

async function nextSeq(conv: string): Promise<number> {
  if (redis) return redis.incr(`${prefix}seq:${conv}`);
  const seq = (seqs.get(conv) ?? 0) + 1;
  seqs.set(conv, seq);
  return seq;
}

io.on('connection', (socket) => {
  const user = String(socket.handshake.query.user ?? '');
  const convs = new Set(
    String(socket.handshake.query.convs ?? '')
      .split(',')
      .filter(Boolean),
  );
  // Read: the engine's copy of the HTTP request is no longer needed (performance tuning).
  (socket.conn as unknown as { request: unknown }).request = null;
  if (!user) {
    socket.disconnect(true);
    return;
  }
  socket.join([...convs]);
  socket.on('send', (frame: { conv?: unknown; clientMsgId?: unknown; body?: unknown }) => {
    const { conv, clientMsgId, body } = frame ?? {};
    if (typeof conv !== 'string' || typeof clientMsgId !== 'string' || typeof body !== 'string') {
      socket.emit('failure', { code: 'invalid_frame' });
      return;
    }
    if (!convs.has(conv)) {
      socket.emit('failure', { code: 'not_member', ref: clientMsgId });
      return;
    }
    nextSeq(conv).then(
      (seq) => {
        const id = `${process.pid}-${nextId++}`;
        const ts = Date.now();
        io.to(conv).emit('message', { conv, seq, id, from: user, body, ts });
        socket.emit('ack', { clientMsgId, conv, id, seq, ts });
      },
      () => socket.emit('failure', { code: 'unavailable', ref: clientMsgId }),
    );
  });
  socket.emit('ready');
});

httpServer.listen(port, host);

const stop = () => {
  io.close();
  redis?.disconnect();
  sub?.disconnect();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
