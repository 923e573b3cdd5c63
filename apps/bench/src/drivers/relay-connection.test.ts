import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { makeBody } from '../bench-message.js';
import type { ConnectionListener } from './bench-connection.js';
import { RelayConnection } from './relay-connection.js';

interface Recorded {
  messages: [string, number, number][];
  acks: [string, string, number][];
  errors: [string, string | undefined][];
  closes: [number, string, boolean][];
}

function recorder(): { listener: ConnectionListener; got: Recorded } {
  const got: Recorded = { messages: [], acks: [], errors: [], closes: [] };
  return {
    got,
    listener: {
      onMessage: (conv, seq, intendedUs) => got.messages.push([conv, seq, intendedUs]),
      onAck: (id, conv, seq) => got.acks.push([id, conv, seq]),
      onError: (code, ref) => got.errors.push([code, ref]),
      onClose: (code, reason, byClient) => got.closes.push([code, reason, byClient]),
    },
  };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

// The bench's raw-socket WebSocket client against the `ws` server library: handshake,
// frames of every length encoding, fragments, ping/pong, close codes, refused upgrades.
describe('RelayConnection', () => {
  let http: Server | undefined;
  let wss: WebSocketServer | undefined;

  afterEach(async () => {
    wss?.close();
    await new Promise((r) => (http ? http.close(r) : r(undefined)));
  });

  async function serve(onConnection: (ws: WebSocket, auth: string | undefined) => void): Promise<string> {
    http = createServer();
    wss = new WebSocketServer({ noServer: true });
    http.on('upgrade', (req, socket, head) => {
      if (req.headers.authorization !== 'Bearer good') {
        const body = JSON.stringify({ error: { code: 'unauthorized', message: 'no' } });
        socket.end(
          `HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
        return;
      }
      wss!.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req.headers.authorization));
    });
    await new Promise<void>((r) => http!.listen(0, '127.0.0.1', r));
    return `ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws`;
  }

  it('resolves on ready with the conversations and reads message, ack and error frames', async () => {
    const body = makeBody(1_700_000_000_000, 0, 0, 100);
    const big = 'y'.repeat(70_000);
    const url = await serve((ws) => {
      ws.send(JSON.stringify({ type: 'ready', conversations: [{ id: 'c1', lastSeq: 4 }] }));
      ws.send(JSON.stringify({ type: 'message', conv: 'c1', seq: 5, id: 'm', from: 'u', body, ts: 1 }));
      ws.send(JSON.stringify({ type: 'message', conv: 'c1', seq: 6, id: 'm', from: 'u', body: big, ts: 1 }));
      ws.send(
        JSON.stringify({
          type: 'message',
          conv: 'c1',
          seq: 7,
          id: 'm',
          from: 'u',
          body: `${body}${'z'.repeat(300)}`,
          ts: 1,
        }),
      );
      ws.send('{"type":"message","conv":"c1",', { fin: false });
      ws.send(`"seq":8,"id":"m","from":"u","body":${JSON.stringify(body)},"ts":1}`, { fin: true });
      ws.send(JSON.stringify({ type: 'ack', clientMsgId: 'k1', conv: 'c1', id: 'm', seq: 9, ts: 1 }));
      ws.send(JSON.stringify({ type: 'error', code: 'rate_limited', message: 'slow', ref: 'k2' }));
    });
    const { listener, got } = recorder();
    const conn = new RelayConnection(url, 'good', listener);
    await expect(conn.open(5000)).resolves.toEqual([{ id: 'c1', lastSeq: 4 }]);
    await until(() => got.errors.length === 1);
    expect(got.messages).toEqual([
      ['c1', 5, 1_700_000_000_000_000],
      ['c1', 7, 1_700_000_000_000_000],
      ['c1', 8, 1_700_000_000_000_000],
    ]);
    expect(got.acks).toEqual([['k1', 'c1', 9]]);
    expect(got.errors).toEqual([['rate_limited', 'k2']]);
    conn.close();
  });

  it('sends masked send frames the server reads, and answers pings', async () => {
    const received: unknown[] = [];
    let ponged = false;
    const url = await serve((ws) => {
      ws.on('message', (data) => received.push(JSON.parse(data.toString())));
      ws.on('pong', () => {
        ponged = true;
      });
      ws.send(JSON.stringify({ type: 'ready', conversations: [] }));
      ws.ping();
    });
    const { listener } = recorder();
    const conn = new RelayConnection(url, 'good', listener);
    await conn.open(5000);
    conn.send('c1', 'k1', 'x'.repeat(200));
    await until(() => received.length === 1 && ponged);
    expect(received[0]).toEqual({ type: 'send', conv: 'c1', clientMsgId: 'k1', body: 'x'.repeat(200) });
    conn.close();
  });

  it('reports a server close with its code and reason, and a client close as its own', async () => {
    const url = await serve((ws) => {
      ws.send(JSON.stringify({ type: 'ready', conversations: [] }));
      setTimeout(() => ws.close(4008, 'slow_consumer'), 20);
    });
    const { listener, got } = recorder();
    const conn = new RelayConnection(url, 'good', listener);
    await conn.open(5000);
    await until(() => got.closes.length === 1);
    expect(got.closes[0]).toEqual([4008, 'slow_consumer', false]);
    expect(conn.isOpen).toBe(false);
  });

  it('rejects a refused upgrade with the status and the typed error code', async () => {
    const url = await serve(() => {});
    const { listener } = recorder();
    await expect(new RelayConnection(url, 'bad', listener).open(5000)).rejects.toBe('http_401_unauthorized');
  });

  it('rejects when nothing listens', async () => {
    const { listener } = recorder();
    await expect(new RelayConnection('ws://127.0.0.1:1/ws', undefined, listener).open(5000)).rejects.toBe(
      'econnrefused',
    );
  });
});
