import { io, type Socket } from 'socket.io-client';
import { intendedUsOf, nowMs } from '../bench-message.js';
import {
  type BenchConnection,
  type ConnectionListener,
  errorCodeOf,
  type ReadyConversation,
} from './bench-connection.js';

interface MessageEvent {
  conv: string;
  seq: number;
  body: string;
}
interface AckEvent {
  clientMsgId: string;
  conv: string;
  seq: number;
}

/**
 * The bench protocol over Socket.IO (the Socket.IO baseline): WebSocket transport only, the
 * user and conversations in the handshake query, `ready` / `message` / `ack` / `failure`
 * events in, `send` events out.
 */
export class SocketIoConnection implements BenchConnection {
  private socket: Socket | undefined;
  private ready = false;
  private closedByClient = false;

  constructor(
    private readonly baseUrl: string,
    private readonly user: string,
    private readonly convs: readonly string[],
    private readonly listener: ConnectionListener,
  ) {}

  get isOpen(): boolean {
    return this.ready && this.socket?.connected === true;
  }

  open(timeoutMs: number): Promise<ReadyConversation[]> {
    this.ready = false;
    this.closedByClient = false;
    return new Promise((resolve, reject) => {
      let settled = false;
      const socket = io(this.baseUrl, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        timeout: timeoutMs,
        query: { user: this.user, convs: this.convs.join(',') },
      });
      this.socket = socket;
      const fail = (code: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.disconnect();
        reject(code);
      };
      const timer = setTimeout(() => fail('timeout'), timeoutMs);
      socket.on('connect_error', (err) => fail(errorCodeOf(err)));
      socket.on('ready', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.ready = true;
        resolve(this.convs.map((id) => ({ id, lastSeq: 0 })));
      });
      socket.on('message', (m: MessageEvent) => {
        const intendedUs = intendedUsOf(m.body);
        if (intendedUs !== undefined) this.listener.onMessage(m.conv, m.seq, intendedUs, nowMs() * 1000);
      });
      socket.on('ack', (a: AckEvent) => this.listener.onAck(a.clientMsgId, a.conv, a.seq));
      socket.on('failure', (e: { code: string; ref?: string }) => this.listener.onError(e.code, e.ref));
      socket.on('disconnect', (reason) => {
        if (!settled) {
          fail(`disconnect_${reason}`);
          return;
        }
        if (this.socket !== socket) return;
        this.ready = false;
        this.listener.onClose(reason === 'io server disconnect' ? 4000 : 1006, reason, this.closedByClient);
      });
    });
  }

  send(conv: string, clientMsgId: string, body: string): void {
    this.socket?.emit('send', { conv, clientMsgId, body });
  }

  terminate(): void {
    this.closedByClient = true;
    this.ready = false;
    // Closes the engine's WebSocket without a Socket.IO disconnect packet.
    this.socket?.io.engine?.close();
  }

  close(): void {
    this.closedByClient = true;
    this.ready = false;
    this.socket?.disconnect();
  }
}
