import type { PresenceStatus, UserId } from '@relay-chat/protocol';

/**
 * Who is online, aggregated over a user's devices and over every gateway replica. A user
 * is online while at least one of their sockets is connected anywhere in the cluster.
 * `MemoryPresence` (`memory.ts`, one process) and `RedisPresence` (`redis.ts`) implement it;
 * both pass the contract suite in `contract.ts`.
 *
 * Each transition is reported exactly once, on one replica: by the `connect`/`disconnect`
 * call that caused it, or else through `onChange` (a dead replica's users swept, a
 * replica's own entries re-registered after a Redis outage, or removed by `close()`).
 * Whoever learns of a transition publishes it to the user's contacts.
 */
export interface PresenceRegistry {
  /** A device of `userId` connected here; true when the user thereby became online cluster-wide. */
  connect(userId: UserId): Promise<boolean>;
  /** A device of `userId` disconnected here; true when the user thereby went offline cluster-wide. */
  disconnect(userId: UserId): Promise<boolean>;
  /** The subset of `userIds` that is online. */
  onlineAmong(userIds: readonly UserId[]): Promise<Set<UserId>>;
  /** Transitions not returned by a `connect`/`disconnect` call on this replica (see above). */
  onChange(handler: (userId: UserId, status: PresenceStatus) => void): void;
  /** Registers this replica; call before the first `connect`. */
  start(): Promise<void>;
  /** Removes this replica's entries (reporting the resulting offline transitions) and stops. */
  close(): Promise<void>;
}
