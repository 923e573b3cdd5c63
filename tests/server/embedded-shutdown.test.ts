/**
 * A stop that peers cannot hold up: a WebSocket peer that never answers the closing
 * handshake, and an HTTP client that never finishes its request, are cut off after their
 * grace times, and the server's close() returns.
 */
import { connect, type Socket } from 'node:net';
import { waitFor } from '@relay-chat/testkit';
import { describe, expect, it } from 'vitest';
import { startTestServer } from '../support/embedded.js';
import { registerUser } from '../support/http.js';

/** A raw TCP connection to the server that records whether it was closed. */
function rawSocket(url: string): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let data = '';
    let closed = false;
    const socket = connect({ host: hostname, port: Number(port) }, () =>
      resolve({ socket, received: () => data, closed: () => closed }),
    );
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
    });
    socket.on('close', () => {
      closed = true;
    });
    socket.on('error', () => {});
    socket.once('error', reject);
  });
}

describe('the embedded server stopping', () => {
  it('cuts off a WebSocket peer that never closes and a request that never ends', async () => {
    const server = await startTestServer({ ALLOW_NO_ORIGIN: 'true', CLOSE_TIMEOUT_MS: '300' });
    let stopped = false;
    try {
      const user = await registerUser(server.url, 'stubborn');
      // A WebSocket peer that reads nothing and answers nothing after the upgrade.
      const ws = await rawSocket(server.url);
      ws.socket.write(
        [
          'GET /ws HTTP/1.1',
          `Host: ${new URL(server.url).host}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Version: 13',
          `Authorization: Bearer ${user.accessToken}`,
          '',
          '',
        ].join('\r\n'),
      );
      await waitFor(() => ws.received().startsWith('HTTP/1.1 101'), { what: 'the upgrade' });
      // An HTTP request whose headers never end.
      const http = await rawSocket(server.url);
      http.socket.write(`GET /api/chat/health HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\nX-Slow: 1`);

      const started = Date.now();
      await server.close();
      stopped = true;
      // The close handshake's 300 ms, then the HTTP grace of 5 s at most.
      expect(Date.now() - started).toBeLessThan(12_000);
      await waitFor(() => ws.closed() && http.closed(), { what: 'both connections cut' });
      ws.socket.destroy();
      http.socket.destroy();
    } finally {
      if (!stopped) await server.close();
    }
  }, 60_000);
});
