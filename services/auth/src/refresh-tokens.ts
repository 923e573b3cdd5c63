import { randomUUID } from 'node:crypto';
import { ChatError, type UserId } from '@relay-chat/protocol';
import { counter } from '@relay-chat/service-kit';
import type { Logger } from 'pino';
import type { Revocation } from './revocations.js';
import type { UserStore } from './store/user-store.js';
import { hashRefreshToken, newRefreshToken } from './tokens.js';

export interface RefreshTokensOptions {
  /** Token life from issue (each rotation starts a new life), seconds. */
  ttlSec: number;
  /** How long a spent token may still be exchanged (concurrent refresh), seconds. */
  graceSec: number;
  now: () => number;
  logger: Logger;
  /** Told of every family this revokes, once the revocation is committed. */
  onRevoked?: (revocation: Revocation) => void;
}

/** A refresh token and the family (session) it belongs to: the access tokens' `sid`. */
export interface IssuedRefreshToken {
  refreshToken: string;
  familyId: string;
}

/** How a refresh was answered, for metrics. */
export type RefreshOutcome = 'rotated' | 'grace' | 'reuse_detected' | 'invalid';

const refreshes = counter('auth_refresh_total', 'Refresh-token exchanges by outcome', ['outcome']);

/**
 * Opaque refresh tokens in families. Login starts a family; every refresh spends the presented
 * token and issues its successor in the same family. Presenting a spent token again means two
 * parties hold it (a leak): the whole family is revoked, logging out both — unless it comes
 * within `graceSec` of the spend, which is what two tabs refreshing at once look like; then it
 * gets a fresh token in the same family instead.
 */
export class RefreshTokens {
  constructor(
    private readonly store: UserStore,
    private readonly options: RefreshTokensOptions,
  ) {}

  /** Starts a family for `userId`; returns its first token. */
  async issue(userId: UserId): Promise<IssuedRefreshToken> {
    const token = newRefreshToken();
    const familyId = randomUUID();
    await this.store.createRefreshFamily(this.record(token, userId, familyId));
    return { refreshToken: token, familyId };
  }

  /**
   * Spends `token` and returns its successor with the owner's id; throws ChatError
   * `invalid_refresh_token` when it is unknown, expired, revoked or reused past the grace window.
   */
  async rotate(token: string): Promise<IssuedRefreshToken & { userId: UserId }> {
    const now = this.options.now();
    const tokenHash = hashRefreshToken(token);
    const spent = await this.store.spendRefreshToken(tokenHash, now);
    if (spent) {
      refreshes.inc({ outcome: 'rotated' });
      return this.successor(spent.userId, spent.familyId);
    }

    const found = await this.store.findRefreshToken(tokenHash);
    if (!found || found.familyRevokedAt !== null || found.expiresAt <= now || found.spentAt === null) {
      return this.refuse('invalid');
    }
    if (now - found.spentAt <= this.options.graceSec * 1000) {
      refreshes.inc({ outcome: 'grace' });
      return this.successor(found.userId, found.familyId);
    }
    await this.revokeFamily(found.familyId, now);
    this.options.logger.warn(
      { userId: found.userId, familyId: found.familyId },
      'spent refresh token presented again: family revoked',
    );
    return this.refuse('reuse_detected');
  }

  /** Revokes the family of `token`; does nothing (and says nothing) when it is unknown. */
  async revoke(token: string): Promise<void> {
    const found = await this.store.findRefreshToken(hashRefreshToken(token));
    if (found) await this.revokeFamily(found.familyId, this.options.now());
  }

  private async revokeFamily(familyId: string, now: number): Promise<void> {
    const revocation = await this.store.revokeRefreshFamily(familyId, now);
    if (revocation) this.options.onRevoked?.(revocation);
  }

  private async successor(
    userId: UserId,
    familyId: string,
  ): Promise<IssuedRefreshToken & { userId: UserId }> {
    const token = newRefreshToken();
    await this.store.addRefreshToken(this.record(token, userId, familyId));
    return { userId, refreshToken: token, familyId };
  }

  private record(token: string, userId: UserId, familyId: string) {
    const now = this.options.now();
    return {
      tokenHash: hashRefreshToken(token),
      familyId,
      userId,
      createdAt: now,
      expiresAt: now + this.options.ttlSec * 1000,
    };
  }

  private refuse(outcome: RefreshOutcome): never {
    refreshes.inc({ outcome });
    throw new ChatError('invalid_refresh_token');
  }
}
