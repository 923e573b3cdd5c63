import type { PresenceFrame, UserId } from '@relay-chat/protocol';
import type { Logger } from '@relay-chat/service-kit';
import type { FlushScheduler } from './flush-scheduler.js';
import type { Session } from './session.js';
import { textFrame } from './ws-frame.js';

/** What the watch needs from the presence registry (see presence/). */
export interface WatchPresence {
  onlineAmong(userIds: UserId[]): Promise<Set<UserId>>;
}

/**
 * Who watches whose presence on this replica, and the delivery of transitions to them. A
 * session watches its contacts (the other members of its DMs and groups): those it had at
 * connect (their status is in `ready`), and those it gains while connected — a DM created,
 * a group it was added to, someone added to one of its groups. A contact gained while
 * connected is told at once whether they are online (`watchAndTell`), so presence is right
 * from the moment two people first share a conversation, not from their next transition.
 * A session stops watching when it closes (a contact lost by leaving is still watched
 * until then: a few extra presence frames, and no store read to find out).
 */
export class PresenceWatch {
  private readonly watchers = new Map<UserId, Set<Session>>();
  /** Transitions delivered per watched user: a status read that one overtook is not sent. */
  private readonly transitions = new Map<UserId, number>();

  constructor(
    private readonly deps: {
      presence: WatchPresence;
      scheduler: FlushScheduler;
      log: Logger;
    },
  ) {}

  /** Delivers `users`' transitions to the session from now on; returns those it did not watch before. */
  watch(session: Session, users: Iterable<UserId>): UserId[] {
    const added: UserId[] = [];
    for (const userId of users) {
      if (userId === session.user.id || !session.watch(userId)) continue;
      let set = this.watchers.get(userId);
      if (!set) {
        set = new Set();
        this.watchers.set(userId, set);
      }
      set.add(session);
      added.push(userId);
    }
    return added;
  }

  /**
   * Watches `users` from each of `sessions` and sends each session the current status of
   * the users it did not watch before (one registry read for all of them). A transition
   * delivered while the status is read is newer than the read: that user's read is dropped.
   */
  watchAndTell(sessions: Iterable<Session>, users: readonly UserId[]): void {
    if (users.length === 0) return;
    const fresh = new Map<Session, UserId[]>();
    const asked = new Set<UserId>();
    for (const session of sessions) {
      if (session.closed) continue;
      const added = this.watch(session, users);
      if (added.length === 0) continue;
      fresh.set(session, added);
      for (const userId of added) asked.add(userId);
    }
    if (asked.size === 0) return;
    const seen = new Map([...asked].map((userId) => [userId, this.transitions.get(userId) ?? 0]));
    this.deps.presence.onlineAmong([...asked]).then(
      (online) => {
        const frames = new Map<UserId, Buffer>();
        for (const [session, added] of fresh) {
          if (session.closed) continue;
          for (const userId of added) {
            if ((this.transitions.get(userId) ?? 0) !== seen.get(userId)) continue;
            let frame = frames.get(userId);
            if (!frame) {
              const status: PresenceFrame = {
                type: 'presence',
                user: userId,
                status: online.has(userId) ? 'online' : 'offline',
              };
              frame = textFrame(JSON.stringify(status));
              frames.set(userId, frame);
            }
            this.deps.scheduler.deliver(session, frame, true);
          }
        }
      },
      (err: unknown) => this.deps.log.warn({ err }, 'presence read for new contacts failed'),
    );
  }

  /** A transition of `userId`: its frame to every session watching them. */
  deliver(userId: UserId, frame: Buffer): void {
    const sessions = this.watchers.get(userId);
    if (!sessions || sessions.size === 0) return;
    this.transitions.set(userId, (this.transitions.get(userId) ?? 0) + 1);
    for (const s of sessions) this.deps.scheduler.deliver(s, frame, true);
  }

  /** Stops every watch of a closed session. */
  forget(session: Session): void {
    for (const watched of session.watching()) {
      const set = this.watchers.get(watched);
      if (set?.delete(session) && set.size === 0) {
        this.watchers.delete(watched);
        this.transitions.delete(watched);
      }
    }
  }
}
