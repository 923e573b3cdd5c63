import { ChatError } from '@relay-chat/protocol';
import type { Logger } from '@relay-chat/service-kit';
import type { Revocation, RevocationList } from './revocation-list.js';

/** Where revocations come from: the auth service in this process, or its internal route. */
export interface RevocationSource {
  /** Revocations with an id above `after`, in id order, at most `limit`. */
  after(after: number, limit: number): Promise<Revocation[]>;
  /** Pushes new ones as they are committed (in-process only). */
  onRevoked?(listener: (revocation: Revocation) => void): () => void;
}

const PAGE = 500;

/**
 * Keeps a RevocationList current: reads everything recorded so far at start, then takes
 * pushed revocations (embedded) and polls every `pollMs` (deployed; also the safety net
 * when a push was missed). A failed poll is logged and retried at the next tick.
 */
export class RevocationFeed {
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly source: RevocationSource,
    private readonly list: RevocationList,
    private readonly pollMs: number,
    private readonly log: Logger,
  ) {}

  /**
   * Starts reading: everything recorded so far, then what comes. The first read is retried
   * every `pollMs` until it succeeds (auth may start after chat); until then `caughtUp` is
   * false and tokens cannot be checked against revocations.
   */
  start(): void {
    this.unsubscribe = this.source.onRevoked?.((revocation) => this.list.apply(revocation));
    const tick = () => {
      this.polling ??= this.catchUp()
        .then(() => {
          this.caughtUp = true;
        })
        .catch((err: unknown) => {
          if (this.caughtUp) this.log.warn({ err }, 'reading revocations failed');
          else this.log.info({ err }, 'revocations not readable yet; retrying');
        })
        .finally(() => {
          this.polling = undefined;
        });
    };
    tick();
    this.timer = setInterval(tick, this.pollMs);
    this.timer.unref();
  }

  /** Whether everything recorded before the first successful read is known. */
  caughtUp = false;

  /** Resolves once caught up; rejects (ChatError `unavailable`) for the readiness check otherwise. */
  async ready(): Promise<void> {
    await this.polling;
    if (!this.caughtUp) throw new ChatError('unavailable', 'revocations are not readable yet');
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.unsubscribe?.();
    await this.polling;
  }

  private async catchUp(): Promise<void> {
    for (;;) {
      const page = await this.source.after(this.list.last, PAGE);
      for (const revocation of page) this.list.apply(revocation);
      if (page.length < PAGE) return;
    }
  }
}

/** Reads `GET <authUrl>/api/auth/internal/revocations` (answered only inside the deployment). */
export function httpRevocationSource(authUrl: string, timeoutMs: number): RevocationSource {
  return {
    async after(after, limit) {
      const url = new URL('/api/auth/internal/revocations', authUrl);
      url.searchParams.set('after', String(after));
      url.searchParams.set('limit', String(limit));
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) throw new Error(`revocations: HTTP ${response.status}`);
      const body = (await response.json()) as { revocations?: Revocation[] };
      if (!Array.isArray(body.revocations)) throw new Error('revocations: unexpected answer');
      return body.revocations;
    },
  };
}
