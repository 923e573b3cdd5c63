import type { UserId } from '@relay-chat/protocol';
import type { Logger } from 'pino';
import type { UserStore } from './store/user-store.js';

/**
 * A revoked session or account, for the services that accept access tokens: they refuse the
 * tokens it covers before those expire by themselves.
 *
 * - `sid` set: a session ended (logout, or a refresh token reused past the grace window).
 *   Every access token whose `sid` claim equals it is revoked.
 * - `sid` null: a user-level revocation (the account was deleted). Every access token of
 *   `userId` issued before `revokedAt` (`iat * 1000 <= revokedAt`) is revoked.
 *
 * Kept for the access-token life plus a margin: older ones cover only expired tokens.
 */
export interface Revocation {
  /** Ascending in commit order: polling with `after` = the last id seen misses none. */
  id: number;
  /** The session (refresh-token family; the access tokens' `sid` claim), or null for the whole user. */
  sid: string | null;
  userId: UserId;
  /** When it was revoked, ms since the epoch. */
  revokedAt: number;
}

/** One page of revocations in ascending id; `last` is the `after` of the next page. */
export interface RevocationPage {
  revocations: Revocation[];
  /** The id of the last revocation in the page, or the `after` asked for when it is empty. */
  last: number;
}

/** Largest page of `revocationsAfter`. */
export const MAX_REVOCATIONS_PAGE = 1000;

/**
 * Where committed revocations go: to in-process listeners at once (the embedded chat service),
 * and, being in the database, to every other replica polling `after` (the internal route).
 */
export class RevocationFeed {
  private readonly listeners = new Set<(revocation: Revocation) => void>();

  constructor(
    private readonly store: UserStore,
    private readonly logger: Logger,
  ) {}

  /** Calls `listener` with every revocation committed by this process from now on; returns the unsubscribe function. */
  onRevoked(listener: (revocation: Revocation) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Hands a committed revocation to every listener (a throwing listener does not stop the others). */
  publish(revocation: Revocation): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(revocation);
      } catch (err) {
        this.logger.error({ err, revocationId: revocation.id }, 'revocation listener failed');
      }
    }
  }

  /** The revocations with id > `after`, ascending, at most `limit` (1..MAX_REVOCATIONS_PAGE). */
  async after(after: number, limit: number): Promise<RevocationPage> {
    const bounded = Math.min(Math.max(1, Math.floor(limit)), MAX_REVOCATIONS_PAGE);
    const revocations = await this.store.revocationsAfter(Math.max(0, Math.floor(after)), bounded);
    return { revocations, last: revocations.at(-1)?.id ?? after };
  }
}
