import type { Server } from 'node:http';
import { counter, type Logger } from '@relay-chat/service-kit';
import type { AccessTokenVerifier } from '@relay-chat/tokens';
import type { ChatCore } from '../chat.js';
import type { RevocationList } from '../revocations/revocation-list.js';
import { ClientCommands, type ClientCommandsOptions } from './client-commands.js';
import {
  type AcceptedConnection,
  ConnectionAcceptor,
  type ConnectionAcceptorOptions,
} from './connection-acceptor.js';
import { FlushScheduler } from './flush-scheduler.js';
import { Heartbeat, type HeartbeatOptions } from './heartbeat.js';
import { type FanOutBus, LocalFanOut, type LocalFanOutOptions } from './local-fan-out.js';
import { PresenceWatch } from './presence-watch.js';
import {
  type LifecyclePresence,
  SessionLifecycle,
  type SessionLifecycleOptions,
} from './session-lifecycle.js';
import { SessionRegistry } from './session-registry.js';

/** What the gateway needs from the bus (see bus/bus.ts). */
export interface GatewayBus extends FanOutBus {
  publish(topic: string, payload: string): Promise<void>;
  onResync(handler: () => void): void;
  /** `down` while the broker link is lost. */
  readonly state: 'up' | 'down';
}

export interface GatewayDeps {
  core: ChatCore;
  bus: GatewayBus;
  presence: LifecyclePresence;
  /** Verifies access tokens (revoked ones included in what it refuses). */
  verify: AccessTokenVerifier;
  /** Logins ended and accounts deleted: their open sessions are closed (4001). */
  revocations: Pick<RevocationList, 'isRevoked' | 'onRevoked'>;
  log: Logger;
}

/** Every tuning value of the gateway; the defaults live in ChatConfig only. */
export interface GatewayOptions {
  accept: ConnectionAcceptorOptions;
  commands: ClientCommandsOptions;
  fanOut: LocalFanOutOptions;
  lifecycle: SessionLifecycleOptions;
  heartbeat: HeartbeatOptions;
  /** Longest wait before queued frames are written, ms (0 = end of the event-loop turn). */
  flushIntervalMs: number;
}

const closes = counter('chat_ws_closes_total', 'Connections closed, by close code', ['code']);

/**
 * This replica's WebSocket side, put together from single-purpose pieces:
 * - ConnectionAcceptor: upgrade checks → a Session;
 * - SessionLifecycle: set-up (state read, local index, presence, `ready`) and tear-down;
 * - ClientCommands: frames in → budgets → the chat core;
 * - LocalFanOut: bus events → the local sessions of each topic, in seq order;
 * - PresenceWatch: who watches whose presence; contacts gained while connected are told at once;
 * - FlushScheduler: sessions' queued frames → one write per socket per window;
 * - Heartbeat: pings, slow consumers, expired tokens.
 * Data flows one way — bus → fan-out → sessions → scheduler — and no piece calls back
 * into the one that owns it; this class only wires them and runs the shutdown.
 */
export class Gateway {
  private readonly registry = new SessionRegistry();
  private readonly scheduler: FlushScheduler;
  private readonly fanOut: LocalFanOut;
  private readonly lifecycle: SessionLifecycle;
  private readonly commands: ClientCommands;
  private readonly acceptor: ConnectionAcceptor;
  private readonly heartbeat: Heartbeat;

  constructor(deps: GatewayDeps, options: GatewayOptions) {
    const { core, bus, presence, verify, log } = deps;
    const registry = this.registry;
    this.scheduler = new FlushScheduler(options.flushIntervalMs);
    const scheduler = this.scheduler;
    const presenceWatch = new PresenceWatch({ presence, scheduler, log });
    this.fanOut = new LocalFanOut({ bus, registry, scheduler, presenceWatch, log }, options.fanOut);
    const fanOut = this.fanOut;
    this.lifecycle = new SessionLifecycle(
      { core, fanOut, registry, scheduler, presence, bus, log },
      options.lifecycle,
    );
    this.commands = new ClientCommands({ core, fanOut, scheduler, bus, verify, log }, options.commands);
    this.heartbeat = new Heartbeat(registry, options.heartbeat);
    this.acceptor = new ConnectionAcceptor(
      {
        verify,
        registry,
        brokerDown: () => bus.state === 'down',
        onConnection: (connection) => this.run(connection),
      },
      options.accept,
    );
    // After the bus was down, live events may have been lost. Every client is asked to
    // reconnect (1012): on `ready` it fetches each conversation's gap from the store.
    deps.revocations.onRevoked((revocation) => {
      for (const session of [...registry.ofUser(revocation.userId)]) {
        const { sid, issuedAt } = session.token;
        if (deps.revocations.isRevoked({ userId: revocation.userId, sid, issuedAt })) {
          session.closeWith('unauthorized');
        }
      }
    });
    bus.onResync(() => {
      log.warn('bus recovered; asking clients to resume from the store');
      registry.closeAll('server_shutting_down');
    });
  }

  /** Resolves when the gateway's own subscriptions are in place. */
  ready(): Promise<void> {
    return this.fanOut.ready();
  }

  /** Handles WebSocket upgrades on `server`. */
  attach(server: Server): void {
    this.acceptor.attach(server);
  }

  /** Stops accepting, writes what is queued, tells every client to reconnect elsewhere (1012), releases subscriptions. */
  async close(): Promise<void> {
    this.acceptor.stop();
    this.heartbeat.stop();
    this.scheduler.flushAll();
    this.registry.closeAll('server_shutting_down');
    await this.fanOut.close();
  }

  private run({ session, onMessage, onClose }: AcceptedConnection): void {
    onClose((code) => {
      closes.inc({ code: String(code) });
      void this.lifecycle.end(session);
    });
    this.commands.attach(session, onMessage);
    this.lifecycle.start(session);
  }
}
