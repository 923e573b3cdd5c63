import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { ChatError, SUBPROTOCOL, type User } from '@relay-chat/protocol';
import { toServiceError } from '@relay-chat/service-kit';
import type { AccessTokenVerifier } from '@relay-chat/tokens';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { Session, type SessionLimits, type SessionToken } from './session.js';
import type { SessionRegistry } from './session-registry.js';
import { authenticateUpgrade, rejectUpgrade, sessionTokenOf } from './upgrade-guard.js';

export interface ConnectionAcceptorOptions {
  /** Path of the WebSocket endpoint, e.g. /ws. */
  path: string;
  allowedOrigins: readonly string[];
  allowNoOrigin: boolean;
  maxFrameBytes: number;
  /** Open connections one user may hold on this replica; past it upgrades get 429 `rate_limited`. */
  maxConnectionsPerUser: number;
  session: SessionLimits;
}

/** A connection that passed the upgrade checks, handed to whoever runs sessions. */
export interface AcceptedConnection {
  session: Session;
  /** Registers the listener of the socket's incoming frames. */
  onMessage(listener: (data: RawData, isBinary: boolean) => void): void;
  /** Registers the listener of the socket's close. */
  onClose(listener: (code: number) => void): void;
}

/**
 * Turns HTTP upgrade requests into sessions: the path, whether the replica is accepting,
 * whether the broker is up, the Origin allowlist and the access token (no 101 without a
 * valid one), and the per-user connection cap are all checked before the 101; a refusal
 * is a plain HTTP answer with the contract's error body.
 */
export class ConnectionAcceptor {
  private readonly wss: WebSocketServer;
  private accepting = true;
  /** Sockets that came in through an upgrade and are still open (see stop). */
  private readonly upgraded = new Set<Duplex>();

  constructor(
    private readonly deps: {
      verify: AccessTokenVerifier;
      registry: SessionRegistry;
      /** Whether the broker link is down (new sessions could not be set up). */
      brokerDown: () => boolean;
      onConnection: (connection: AcceptedConnection) => void;
    },
    private readonly options: ConnectionAcceptorOptions,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
  }

  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.onUpgrade(request, socket, head);
    });
  }

  /**
   * Refuses new connections from now on (`server_shutting_down`). Every socket that came in
   * through an upgrade and is still open `closeTimeoutMs` later — a peer that never finished
   * the closing handshake, an upgrade that was being authenticated when this was called, a
   * refusal the peer never read — is destroyed then: an upgraded socket keeps the HTTP
   * server from closing, and so the process from stopping.
   */
  stop(): void {
    this.accepting = false;
    this.wss.close();
    setTimeout(() => {
      for (const socket of this.upgraded) socket.destroy();
    }, this.options.session.closeTimeoutMs).unref();
  }

  private onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    const path = (request.url ?? '').split('?')[0];
    if (path !== this.options.path) {
      rejectUpgrade(socket, new ChatError('not_found', 'no WebSocket endpoint here'));
      return;
    }
    if (!this.accepting) {
      rejectUpgrade(socket, new ChatError('server_shutting_down'));
      return;
    }
    if (this.deps.brokerDown()) {
      rejectUpgrade(socket, new ChatError('unavailable', 'the message broker is unavailable; retry shortly'));
      return;
    }
    authenticateUpgrade(request, { ...this.options, verify: this.deps.verify }).then(
      ({ claims, token }) => {
        if (socket.destroyed) return;
        const user: User = { id: claims.userId, username: claims.username };
        if (this.deps.registry.countOf(user.id) >= this.options.maxConnectionsPerUser) {
          rejectUpgrade(
            socket,
            new ChatError(
              'rate_limited',
              `at most ${this.options.maxConnectionsPerUser} connections per user`,
              { retryAfterSec: 5 },
            ),
          );
          return;
        }
        if (!this.accepting) {
          // Stopped while this upgrade was being authenticated.
          rejectUpgrade(socket, new ChatError('server_shutting_down'));
          return;
        }
        this.wss.handleUpgrade(request, socket, head, (ws) => {
          this.accept(ws, socket, user, sessionTokenOf(token, claims));
        });
      },
      (err: unknown) => rejectUpgrade(socket, toServiceError(err)),
    );
  }

  private accept(ws: WebSocket, socket: Duplex, user: User, token: SessionToken): void {
    const session = new Session(ws, socket, user, token, this.options.session);
    ws.on('pong', () => session.noteAlive());
    ws.on('error', () => {});
    this.deps.onConnection({
      session,
      onMessage: (listener) => ws.on('message', listener),
      onClose: (listener) => ws.on('close', listener),
    });
  }
}
