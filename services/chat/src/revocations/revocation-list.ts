import { ChatError, type UserId } from '@relay-chat/protocol';
import type { AccessTokenVerifier } from '@relay-chat/tokens';

/**
 * A revoked login (`sid` set: every access token of that refresh-token family) or, with
 * `sid` null, every access token of `userId` issued up to `revokedAt` (a deleted account).
 * As the auth service records them; `id` orders them.
 */
export interface Revocation {
  id: number;
  sid: string | null;
  userId: UserId;
  /** ms since the epoch. */
  revokedAt: number;
}

/** The facts of an access token that revocation is judged on. */
export interface RevocableToken {
  userId: UserId;
  sid?: string | undefined;
  /** Issue time, ms since the epoch. */
  issuedAt: number;
}

/**
 * The revocations this replica knows of, for as long as a revoked token could still be
 * presented (its access-token life): checked on every verification, and announced to
 * listeners (the gateway closes the matching sessions).
 */
export class RevocationList {
  private readonly bySid = new Map<string, number>();
  private readonly byUser = new Map<UserId, number>();
  private readonly listeners: ((revocation: Revocation) => void)[] = [];
  private lastId = 0;

  /** `keepMs`: how long an entry matters (the access-token life plus clock skew). */
  constructor(private readonly keepMs: number) {}

  /** The id of the newest revocation applied (where a feed resumes). */
  get last(): number {
    return this.lastId;
  }

  isRevoked(token: RevocableToken): boolean {
    if (token.sid !== undefined && this.bySid.has(token.sid)) return true;
    const upTo = this.byUser.get(token.userId);
    return upTo !== undefined && token.issuedAt <= upTo;
  }

  /** Applies a revocation (once; replays of older ids are ignored) and tells the listeners. */
  apply(revocation: Revocation, now = Date.now()): void {
    if (revocation.id <= this.lastId) return;
    this.lastId = revocation.id;
    if (revocation.sid !== null) this.bySid.set(revocation.sid, revocation.revokedAt);
    else
      this.byUser.set(
        revocation.userId,
        Math.max(revocation.revokedAt, this.byUser.get(revocation.userId) ?? 0),
      );
    this.prune(now);
    for (const listener of this.listeners) listener(revocation);
  }

  onRevoked(listener: (revocation: Revocation) => void): void {
    this.listeners.push(listener);
  }

  /** Forgets entries older than `keepMs`: every token they could refuse has expired. */
  private prune(now: number): void {
    const before = now - this.keepMs;
    for (const [sid, at] of this.bySid) if (at < before) this.bySid.delete(sid);
    for (const [user, at] of this.byUser) if (at < before) this.byUser.delete(user);
  }
}

/**
 * `verify`, refusing (`unauthorized`) the tokens of revoked logins and deleted accounts —
 * and every token (`unavailable`) while the revocations are not known yet (`caughtUp`).
 */
export function refusingRevoked(
  verify: AccessTokenVerifier,
  list: RevocationList,
  caughtUp: () => boolean,
): AccessTokenVerifier {
  return async (token) => {
    if (!caughtUp()) throw new ChatError('unavailable', 'sessions cannot be checked yet; retry shortly');
    const claims = await verify(token);
    if (list.isRevoked({ userId: claims.userId, sid: claims.sid, issuedAt: claims.iat * 1000 })) {
      throw new ChatError('unauthorized', 'this session has ended; sign in again');
    }
    return claims;
  };
}
