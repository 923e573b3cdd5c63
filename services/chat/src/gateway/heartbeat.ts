import type { SessionRegistry } from './session-registry.js';

export interface HeartbeatOptions {
  /** Interval of WebSocket pings, ms; a peer that misses one is terminated at the next. */
  pingIntervalMs: number;
  /** Interval of the access-token expiry sweep, ms. */
  expirySweepMs: number;
}

/**
 * Keeps connections honest: pings every socket on an interval (terminating one that did
 * not answer the previous ping, closing one that lags as a slow consumer), and closes
 * sessions whose access token expired (`token_expired`) — one sweep for all sessions,
 * not a timer per connection.
 */
export class Heartbeat {
  private readonly pings: NodeJS.Timeout;
  private readonly expiries: NodeJS.Timeout;

  constructor(
    private readonly registry: SessionRegistry,
    options: HeartbeatOptions,
  ) {
    this.pings = setInterval(() => this.beat(), options.pingIntervalMs);
    this.pings.unref();
    this.expiries = setInterval(() => this.sweepExpired(), options.expirySweepMs);
    this.expiries.unref();
  }

  stop(): void {
    clearInterval(this.pings);
    clearInterval(this.expiries);
  }

  private beat(): void {
    const now = Date.now();
    for (const session of this.registry.all()) session.beat(now);
  }

  private sweepExpired(): void {
    const now = Date.now();
    for (const session of this.registry.all()) {
      if (now >= session.token.expiresAt) session.closeWith('token_expired');
    }
  }
}
