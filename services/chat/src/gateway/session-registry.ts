import type { ErrorCode, UserId } from '@relay-chat/protocol';
import { gauge } from '@relay-chat/service-kit';
import type { Session } from './session.js';

const connections = gauge('chat_ws_connections', 'Open WebSocket connections');

/** This replica's open sessions, by user. */
export class SessionRegistry {
  private readonly byUser = new Map<UserId, Set<Session>>();

  add(session: Session): void {
    let sessions = this.byUser.get(session.user.id);
    if (!sessions) {
      sessions = new Set();
      this.byUser.set(session.user.id, sessions);
    }
    sessions.add(session);
    connections.inc();
  }

  /** Removes a session; returns whether it was the user's last one here (undefined when unknown). */
  remove(session: Session): { last: boolean } | undefined {
    const sessions = this.byUser.get(session.user.id);
    if (!sessions?.delete(session)) return undefined;
    connections.dec();
    if (sessions.size > 0) return { last: false };
    this.byUser.delete(session.user.id);
    return { last: true };
  }

  /** The user's open sessions here (empty when none). */
  ofUser(userId: UserId): ReadonlySet<Session> {
    return this.byUser.get(userId) ?? EMPTY;
  }

  countOf(userId: UserId): number {
    return this.byUser.get(userId)?.size ?? 0;
  }

  *all(): IterableIterator<Session> {
    for (const sessions of this.byUser.values()) yield* sessions;
  }

  /** Closes every session with `code` (shutdown, or a bus resync). */
  closeAll(code: ErrorCode): void {
    for (const session of [...this.all()]) session.closeWith(code);
  }
}

const EMPTY: ReadonlySet<Session> = new Set();
