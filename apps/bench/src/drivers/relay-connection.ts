import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { readMessageFrame } from '../bench-message.js';
import {
  type BenchConnection,
  type ConnectionListener,
  errorCodeOf,
  type ReadyConversation,
} from './bench-connection.js';

const MESSAGE_HEAD = Buffer.from('{"type":"message"');

/**
 * The relay-chat WebSocket protocol (also spoken by the ws baselines): bearer token at the
 * upgrade, `ready` first, then `message` / `ack` / `error` frames; `send` frames out.
 */
export class RelayConnection implements BenchConnection {
  private ws: WebSocket | undefined;
  private ready = false;
  private closedByClient = false;

  constructor(
    private readonly url: string,
    private readonly token: string | undefined,
    private readonly listener: ConnectionListener,
  ) {}

  get isOpen(): boolean {
    return this.ready && this.ws?.readyState === WebSocket.OPEN;
  }

  open(timeoutMs: number): Promise<ReadyConversation[]> {
    this.ready = false;
    this.closedByClient = false;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (code: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.terminate();
        reject(code);
      };
      const ws = new WebSocket(this.url, {
        headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
        perMessageDeflate: false,
        skipUTF8Validation: true,
        handshakeTimeout: timeoutMs,
      });
      this.ws = ws;
      const timer = setTimeout(() => fail('timeout'), timeoutMs);
      ws.on('unexpected-response', (_req, res: IncomingMessage) => {
        readErrorCode(res).then(
          (code) => fail(`http_${res.statusCode}${code ? `_${code}` : ''}`),
          () => fail(`http_${res.statusCode}`),
        );
      });
      ws.on('error', (err) => fail(errorCodeOf(err)));
      ws.on('close', (code, reason) => {
        if (!settled) {
          fail(`closed_${code}`);
          return;
        }
        // A socket replaced by a newer one (reconnect) has nothing more to say.
        if (this.ws !== ws) return;
        this.ready = false;
        this.listener.onClose(code, reason.toString(), this.closedByClient);
      });
      ws.on('message', (data: Buffer) => {
        if (
          data.length > MESSAGE_HEAD.length &&
          data.compare(MESSAGE_HEAD, 0, MESSAGE_HEAD.length, 0, MESSAGE_HEAD.length) === 0
        ) {
          // Bench bodies, ids and numbers are ASCII: latin1 decodes them faster than utf8.
          const m = readMessageFrame(data.toString('latin1'));
          if (m) this.listener.onMessage(m.conv, m.seq, m.intendedUs);
          return;
        }
        let frame: Record<string, unknown>;
        try {
          frame = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
        } catch {
          this.listener.onError('unparsable_frame', undefined);
          return;
        }
        switch (frame.type) {
          case 'ack':
            this.listener.onAck(String(frame.clientMsgId), String(frame.conv), Number(frame.seq));
            return;
          case 'error':
            this.listener.onError(String(frame.code), typeof frame.ref === 'string' ? frame.ref : undefined);
            return;
          case 'ready': {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            this.ready = true;
            const convs = Array.isArray(frame.conversations) ? frame.conversations : [];
            resolve(
              convs.map((c: { id?: unknown; lastSeq?: unknown }) => ({
                id: String(c.id),
                lastSeq: typeof c.lastSeq === 'number' ? c.lastSeq : 0,
              })),
            );
            return;
          }
          default:
            return;
        }
      });
    });
  }

  send(conv: string, clientMsgId: string, body: string): void {
    this.ws?.send(JSON.stringify({ type: 'send', conv, clientMsgId, body }));
  }

  terminate(): void {
    this.closedByClient = true;
    this.ready = false;
    this.ws?.terminate();
  }

  close(): void {
    this.closedByClient = true;
    this.ready = false;
    this.ws?.close(1000);
  }
}

/** The typed error code of a refused upgrade's JSON body, when it has one. */
async function readErrorCode(res: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString()) as { error?: { code?: unknown } };
    return typeof body.error?.code === 'string' ? body.error.code : undefined;
  } catch {
    return undefined;
  }
}
