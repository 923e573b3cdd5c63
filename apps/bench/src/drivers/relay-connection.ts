import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { MessageFrameReader, nowMs } from '../bench-message.js';
import {
  type BenchConnection,
  type ConnectionListener,
  errorCodeOf,
  type ReadyConversation,
} from './bench-connection.js';
import { clientFrame, closeFrame, FrameReader, OPCODE } from './ws-wire.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEADER_END = Buffer.from('\r\n\r\n');
/**
 * One read buffer for every connection of the process (Node's `onread`): data is parsed
 * synchronously where it lands, so no Buffer is allocated per TCP read.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/**
 * The relay-chat WebSocket protocol (also spoken by the ws baselines) on a raw TCP socket:
 * bearer token at the upgrade, `ready` first, then `message` / `ack` / `error` frames in and
 * `send` frames out. `message` frames are read straight from the bytes (see FrameReader and
 * readMessageBytes); everything else is JSON-parsed.
 */
export class RelayConnection implements BenchConnection {
  private socket: Socket | undefined;
  private ready = false;
  private closedByClient = false;
  private readonly messages = new MessageFrameReader();
  /** Arrival time of the TCP chunk being read, epoch µs (one clock read per chunk, not per frame). */
  private arrivalUs = 0;

  constructor(
    private readonly url: string,
    private readonly token: string | undefined,
    private readonly listener: ConnectionListener,
  ) {}

  get isOpen(): boolean {
    return this.ready && this.socket?.writable === true;
  }

  open(timeoutMs: number): Promise<ReadyConversation[]> {
    this.ready = false;
    this.closedByClient = false;
    const url = new URL(this.url);
    return new Promise((resolve, reject) => {
      let settled = false;
      let upgraded = false;
      let head: Buffer = Buffer.alloc(0);
      let closeCode = 1006;
      let closeReason = '';
      const key = randomBytes(16).toString('base64');
      const socket: Socket = connect({
        host: url.hostname,
        port: Number(url.port || 80),
        noDelay: true,
        onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => onData(buf as Buffer, n) },
      });
      this.socket = socket;
      const fail = (code: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(code);
      };
      const timer = setTimeout(() => fail('timeout'), timeoutMs);
      const reader = new FrameReader({
        onMessage: (buf, start, end) => {
          if (!settled) {
            this.onHandshakeFrame(buf, start, end, (convs) => {
              settled = true;
              clearTimeout(timer);
              this.ready = true;
              resolve(convs);
            });
            return;
          }
          this.onFrame(buf, start, end);
        },
        onPing: (payload) => socket.write(clientFrame(OPCODE.pong, payload)),
        onClose: (code, reason) => {
          closeCode = code;
          closeReason = reason;
          if (socket.writable) socket.end(closeFrame(code === 1005 ? 1000 : code));
          if (!settled) fail(`closed_${code}`);
        },
        onProtocolError: (reason) => {
          closeCode = 1002;
          closeReason = reason;
          socket.destroy();
        },
      });
      socket.on('connect', () => {
        const lines = [
          `GET ${url.pathname}${url.search} HTTP/1.1`,
          `Host: ${url.host}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Key: ${key}`,
          'Sec-WebSocket-Version: 13',
        ];
        if (this.token) lines.push(`Authorization: Bearer ${this.token}`);
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
      const onData = (buf: Buffer, n: number): boolean => {
        if (upgraded) {
          this.arrivalUs = nowMs() * 1000;
          reader.push(buf.subarray(0, n));
          return true;
        }
        onHandshakeBytes(Buffer.from(buf.subarray(0, n)));
        return true;
      };
      const onHandshakeBytes = (chunk: Buffer) => {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        const end = head.indexOf(HEADER_END);
        if (end < 0) return;
        const response = head.toString('latin1', 0, end);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
        if (status !== 101) {
          // Wait for the JSON error body (Content-Length) to name the refusal.
          const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(response)?.[1] ?? 0);
          const body = head.subarray(end + 4);
          if (body.length < length && head.length < 65_536) return;
          fail(`http_${status}${errorCodeIn(body.toString('utf8'))}`);
          return;
        }
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(response)?.[1];
        const expected = createHash('sha1')
          .update(key + WS_GUID)
          .digest('base64');
        if (accept !== expected) {
          fail('bad_handshake');
          return;
        }
        upgraded = true;
        const rest = head.subarray(end + 4);
        head = Buffer.alloc(0);
        this.arrivalUs = nowMs() * 1000;
        if (rest.length > 0) reader.push(rest);
      };
      socket.on('error', (err) => fail(errorCodeOf(err)));
      socket.on('close', () => {
        if (!settled) {
          fail(upgraded ? `closed_${closeCode}` : 'connection_closed');
          return;
        }
        // A socket replaced by a newer one (reconnect) has nothing more to say.
        if (this.socket !== socket) return;
        this.ready = false;
        this.listener.onClose(closeCode, closeReason, this.closedByClient);
      });
    });
  }

  /** Frames before `ready`: only `ready` itself (or an error) is expected. */
  private onHandshakeFrame(
    buf: Buffer,
    start: number,
    end: number,
    onReady: (convs: ReadyConversation[]) => void,
  ): void {
    const frame = parseJson(buf, start, end);
    if (frame?.type === 'ready') {
      const convs = Array.isArray(frame.conversations) ? (frame.conversations as unknown[]) : [];
      onReady(
        convs.map((c) => {
          const conv = c as { id?: unknown; lastSeq?: unknown };
          return { id: String(conv.id), lastSeq: typeof conv.lastSeq === 'number' ? conv.lastSeq : 0 };
        }),
      );
    } else if (frame?.type === 'error') {
      this.listener.onError(String(frame.code), typeof frame.ref === 'string' ? frame.ref : undefined);
    }
  }

  private onFrame(buf: Buffer, start: number, end: number): void {
    const kind = this.messages.read(buf, start, end);
    if (kind === 1) {
      const m = this.messages;
      this.listener.onMessage(m.conv, m.seq, m.intendedUs, this.arrivalUs);
      return;
    }
    if (kind === -1) return; // a message frame that is not a bench message
    const frame = parseJson(buf, start, end);
    if (!frame) {
      this.listener.onError('unparsable_frame', undefined);
      return;
    }
    if (frame.type === 'ack') {
      this.listener.onAck(String(frame.clientMsgId), String(frame.conv), Number(frame.seq));
    } else if (frame.type === 'change') {
      this.listener.onChange?.(String(frame.conv), Number(frame.changeSeq), this.arrivalUs);
    } else if (frame.type === 'change_ack') {
      this.listener.onChangeAck?.(
        String(frame.ref),
        String(frame.conv),
        Number(frame.seq),
        typeof frame.changeSeq === 'number' ? frame.changeSeq : undefined,
      );
    } else if (frame.type === 'typing') {
      this.listener.onTyping?.(String(frame.conv), String(frame.user), this.arrivalUs);
    } else if (frame.type === 'presence') {
      this.listener.onPresence?.(String(frame.user), frame.status === 'online');
    } else if (frame.type === 'error') {
      this.listener.onError(String(frame.code), typeof frame.ref === 'string' ? frame.ref : undefined);
    }
  }

  typing(conv: string): void {
    this.socket?.write(clientFrame(OPCODE.text, Buffer.from(JSON.stringify({ type: 'typing', conv }))));
  }

  send(conv: string, clientMsgId: string, body: string): void {
    const payload = Buffer.from(JSON.stringify({ type: 'send', conv, clientMsgId, body }));
    this.socket?.write(clientFrame(OPCODE.text, payload));
  }

  edit(conv: string, seq: number, body: string, ref: string): void {
    const payload = Buffer.from(JSON.stringify({ type: 'edit', conv, seq, body, ref }));
    this.socket?.write(clientFrame(OPCODE.text, payload));
  }

  react(conv: string, seq: number, emoji: string, on: boolean, ref: string): void {
    const payload = Buffer.from(JSON.stringify({ type: 'react', conv, seq, emoji, on, ref }));
    this.socket?.write(clientFrame(OPCODE.text, payload));
  }

  terminate(): void {
    this.closedByClient = true;
    this.ready = false;
    this.socket?.destroy();
  }

  close(): void {
    this.closedByClient = true;
    this.ready = false;
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    socket.end(closeFrame(1000));
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}

function parseJson(buf: Buffer, start: number, end: number): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(buf.toString('utf8', start, end));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `_<code>` of a JSON error body, or '' when there is none. */
function errorCodeIn(body: string): string {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? `_${code}` : '';
  } catch {
    return '';
  }
}
