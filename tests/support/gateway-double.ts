/**
 * A scripted relay-chat gateway for the SDK's unit tests: a real `ws` WebSocketServer and
 * HTTP server on 127.0.0.1 that does only what the test tells it — send `ready`, a message,
 * an error, close a socket — and records what the client sent. History is served from an
 * in-memory list at `GET /api/chat/conversations/:id/messages?after=&limit=`, so gaps can be
 * made on purpose (the real server never skips a seq). Waiting is event-driven, never timed,
 * so tests may run the SDK's clocks on fake timers while the sockets stay real.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  asConversationId,
  asMessageId,
  asUserId,
  type ClientFrame,
  type Conversation,
  type Message,
  type ReadyFrame,
  type ServerFrame,
  type User,
} from '@relay-chat/protocol';
import type { WebSocketConstructor } from '@relay-chat/sdk';
import { WebSocket, WebSocketServer } from 'ws';

/**
 * What SDK tests put on fake time: the SDK's own timers and clock. setImmediate and
 * nextTick stay real, so socket I/O and `settle` keep working.
 */
export const SDK_FAKE_TIMERS: {
  toFake: ('setTimeout' | 'clearTimeout' | 'setInterval' | 'clearInterval' | 'Date')[];
} = { toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] };

/** Lets promise callbacks queued so far run (one real event-loop turn; nothing waits on time). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export const ME: User = { id: asUserId('u-me'), username: 'me' };
export const OTHER: User = { id: asUserId('u-other'), username: 'other' };

/** One accepted socket, seen from the server side. */
export interface Peer {
  /** The subprotocols the client offered (the SDK puts its token there). */
  readonly protocols: string[];
  /** Client frames received on this socket, in order. */
  readonly received: ClientFrame[];
  /** The first received frame of `type` that matches, now or when it arrives. */
  next<T extends ClientFrame['type']>(
    type: T,
    match?: (frame: Extract<ClientFrame, { type: T }>) => boolean,
  ): Promise<Extract<ClientFrame, { type: T }>>;
  send(frame: ServerFrame): void;
  /** Sends `ready` (user ME, no conversations, unless overridden). */
  ready(overrides?: Partial<ReadyFrame>): void;
  close(code: number, reason?: string): void;
  /** Resolves when the socket is closed, by either side. */
  readonly closed: Promise<{ code: number; reason: string }>;
}

export interface GatewayDouble {
  /** ws://127.0.0.1:<port>/ws */
  wsUrl: string;
  /** http://127.0.0.1:<port> */
  httpUrl: string;
  /** Accepted sockets, in order. */
  readonly peers: Peer[];
  /** The `index`-th accepted socket (0-based), now or once it connects. */
  peer(index: number): Promise<Peer>;
  /** Runs on each new socket before anyone awaiting it sees it (e.g. `(p) => p.ready()`). */
  onConnection: ((peer: Peer) => void) | undefined;
  /** Refuses upgrades with this HTTP status while set (e.g. 401, 503). */
  refuseUpgradesWith: number | undefined;
  /** Stored messages per conversation, served by the history route. */
  readonly history: Map<string, Message[]>;
  /** History requests received, in order. */
  readonly historyRequests: { conv: string; after: number; limit: number }[];
  close(): Promise<void>;
}

/** A message of `conv` with `seq`, from OTHER unless said. */
export function message(conv: string, seq: number, from: User = OTHER): Message {
  return {
    conv: asConversationId(conv),
    seq,
    id: asMessageId(`${conv}-m${seq}`),
    from: from.id,
    body: `message ${seq}`,
    ts: 1_700_000_000_000 + seq,
  };
}

/** A DM of ME's at `lastSeq` (nothing read), as `ready` lists it. */
export function conversation(
  id: string,
  lastSeq: number,
  overrides: Partial<Conversation> = {},
): Conversation {
  return {
    id: asConversationId(id),
    kind: 'dm',
    name: null,
    lastSeq,
    lastReadSeq: 0,
    unread: lastSeq,
    memberCount: 2,
    members: [ME, OTHER],
    lastMessage: null,
    lastActivityAt: 1_700_000_000_000,
    createdAt: 1_700_000_000_000,
    ...overrides,
  };
}

/**
 * The WebSocket class to give the SDK under test: ws's own, recording each socket the SDK
 * opens (its URL) and each frame it writes, so a test can tell what the client did
 * without waiting for the network.
 */
export function recordingWebSocket() {
  const opened: string[] = [];
  const sent: ClientFrame[] = [];
  class Recording extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      opened.push(url);
      const send = this.send.bind(this);
      this.send = ((data: string) => {
        sent.push(JSON.parse(data) as ClientFrame);
        send(data);
      }) as typeof this.send;
    }
  }
  return { WebSocket: Recording as unknown as WebSocketConstructor, opened, sent };
}

export async function startGatewayDouble(): Promise<GatewayDouble> {
  const peers: Peer[] = [];
  const waiting = new Map<number, ((peer: Peer) => void)[]>();
  const history = new Map<string, Message[]>();
  const historyRequests: { conv: string; after: number; limit: number }[] = [];

  const http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const match = /^\/api\/chat\/conversations\/([^/]+)\/messages$/.exec(url.pathname);
    if (req.method !== 'GET' || !match) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'not in this double' } }));
      return;
    }
    const conv = decodeURIComponent(match[1]!);
    const after = Number(url.searchParams.get('after') ?? 0);
    const limit = Number(url.searchParams.get('limit') ?? 50);
    historyRequests.push({ conv, after, limit });
    const messages = (history.get(conv) ?? [])
      .filter((m) => m.seq > after)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ messages }));
  });

  const double: GatewayDouble = {
    wsUrl: '',
    httpUrl: '',
    peers,
    onConnection: undefined,
    refuseUpgradesWith: undefined,
    history,
    historyRequests,
    peer(index) {
      const found = peers[index];
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => {
        const list = waiting.get(index) ?? [];
        list.push(resolve);
        waiting.set(index, list);
      });
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };

  const wss = new WebSocketServer({
    server: http,
    path: '/ws',
    verifyClient: (_info, done) => {
      if (double.refuseUpgradesWith === undefined) done(true);
      else done(false, double.refuseUpgradesWith);
    },
    handleProtocols: (protocols) => (protocols.has('relay-chat.v1') ? 'relay-chat.v1' : false),
  });

  wss.on('connection', (ws, request) => {
    const protocols = (request.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const peer = peerOf(ws, protocols);
    peers.push(peer);
    double.onConnection?.(peer);
    const index = peers.length - 1;
    for (const resolve of waiting.get(index) ?? []) resolve(peer);
    waiting.delete(index);
  });

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  double.httpUrl = `http://127.0.0.1:${port}`;
  double.wsUrl = `ws://127.0.0.1:${port}/ws`;
  return double;
}

function peerOf(ws: WebSocket, protocols: string[]): Peer {
  const received: ClientFrame[] = [];
  const listeners: (() => void)[] = [];
  ws.on('message', (data) => {
    received.push(JSON.parse(data.toString()) as ClientFrame);
    for (const listener of [...listeners]) listener();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  return {
    protocols,
    received,
    next(type, match = () => true) {
      type Found = Extract<ClientFrame, { type: typeof type }>;
      const find = () => received.find((f): f is Found => f.type === type && match(f as Found));
      const now = find();
      if (now) return Promise.resolve(now);
      return new Promise((resolve) => {
        const listener = () => {
          const found = find();
          if (!found) return;
          listeners.splice(listeners.indexOf(listener), 1);
          resolve(found);
        };
        listeners.push(listener);
      });
    },
    send(frame) {
      ws.send(JSON.stringify(frame));
    },
    ready(overrides = {}) {
      const frame: ReadyFrame = {
        type: 'ready',
        v: 1,
        user: ME,
        conversations: [],
        nextCursor: null,
        online: [],
        serverTime: Date.now(),
        ...overrides,
      };
      ws.send(JSON.stringify(frame));
    },
    close(code, reason) {
      ws.close(code, reason);
    },
    closed,
  };
}
