/**
 * A raw WebSocket client for tests that speak the frame protocol directly (the SDK hides
 * exactly what these tests need to see: every frame, close codes, refused upgrades).
 */
import type { ServerFrame } from '@relay-chat/protocol';
import WebSocket from 'ws';

export interface FrameClientOptions {
  token?: string;
  /** Send the token as the browser does (subprotocol) instead of the Authorization header. */
  viaSubprotocol?: boolean;
  origin?: string;
}

export class FrameClient {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as ServerFrame);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => {});
  }

  /** Opens a connection and waits for `ready`. Rejects with the HTTP status when the upgrade is refused. */
  static async connect(wsUrl: string, options: FrameClientOptions = {}): Promise<FrameClient> {
    const ws = openSocket(wsUrl, options);
    const client = new FrameClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new UpgradeRefused(res.statusCode ?? 0)));
      ws.once('error', reject);
    });
    await client.next('ready');
    return client;
  }

  /** Attempts an upgrade and returns the HTTP status of the refusal (or 101). */
  static async upgradeStatus(wsUrl: string, options: FrameClientOptions = {}): Promise<number> {
    const ws = openSocket(wsUrl, options);
    return new Promise((resolve) => {
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.once('error', () => resolve(0));
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits for the first frame (after `fromIndex`) of a type matching `match`; returns it. */
  async next<T extends ServerFrame['type']>(
    type: T,
    match: (frame: Extract<ServerFrame, { type: T }>) => boolean = () => true,
    { timeoutMs = 10_000, fromIndex = 0 } = {},
  ): Promise<Extract<ServerFrame, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames
        .slice(fromIndex)
        .find(
          (f): f is Extract<ServerFrame, { type: T }> =>
            f.type === type && match(f as Extract<ServerFrame, { type: T }>),
        );
      if (found) return found;
      if (this.closed && type !== 'error') {
        throw new Error(
          `connection closed (${this.closed.code} ${this.closed.reason}) while waiting for ${type}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a ${type} frame`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until the server closes the connection; returns code and reason. */
  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('timed out waiting for close');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closed;
  }

  ofType<T extends ServerFrame['type']>(type: T): Extract<ServerFrame, { type: T }>[] {
    return this.frames.filter((f): f is Extract<ServerFrame, { type: T }> => f.type === type);
  }

  close(): void {
    this.ws.close();
  }

  /** Stops reading from the socket (a stalled peer): the server's frames pile up in its buffers. */
  pauseReading(): void {
    this.rawSocket().pause();
  }

  resumeReading(): void {
    this.rawSocket().resume();
  }

  private rawSocket(): { pause(): void; resume(): void } {
    // ws keeps the TCP socket private; a stalled reader needs it.
    return (this.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}

function openSocket(wsUrl: string, options: FrameClientOptions): WebSocket {
  const headers: Record<string, string> = {};
  const protocols: string[] = [];
  if (options.token && options.viaSubprotocol) protocols.push('relay-chat.v1', `bearer.${options.token}`);
  else if (options.token) headers.authorization = `Bearer ${options.token}`;
  return new WebSocket(wsUrl, protocols, { headers, ...(options.origin ? { origin: options.origin } : {}) });
}
