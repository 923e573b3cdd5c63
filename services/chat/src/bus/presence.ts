import type { UserId } from '@relay-chat/protocol';
import { gauge } from '@relay-chat/service-kit';

export type PresenceStatus = 'online' | 'offline';

/**
 * Who is online, aggregated over a user's devices and over every gateway replica. A user
 * is online while at least one of their sockets is connected anywhere in the cluster.
 * `MemoryPresence` (one process) and `RedisPresence` (`redis-presence.ts`) implement it.
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

export const localPresenceUsers = gauge(
  'chat_presence_local_users',
  'Users with at least one device connected to this process.',
);

/**
 * Device counts per user of this process. `RedisPresence` keeps one as its own truth and
 * mirrors it to Redis.
 */
export class DeviceCounts {
  private readonly counts = new Map<UserId, number>();

  /** Adds a device; returns the user's new device count here. */
  add(userId: UserId): number {
    const count = (this.counts.get(userId) ?? 0) + 1;
    this.counts.set(userId, count);
    if (count === 1) localPresenceUsers.inc();
    return count;
  }

  /** Removes a device; returns the user's remaining count here (never below 0). */
  remove(userId: UserId): number {
    const count = this.counts.get(userId);
    if (count === undefined) return 0;
    if (count > 1) {
      this.counts.set(userId, count - 1);
      return count - 1;
    }
    this.counts.delete(userId);
    localPresenceUsers.dec();
    return 0;
  }

  get(userId: UserId): number {
    return this.counts.get(userId) ?? 0;
  }

  users(): IterableIterator<UserId> {
    return this.counts.keys();
  }

  clear(): void {
    localPresenceUsers.dec(this.counts.size);
    this.counts.clear();
  }
}

/** Presence of embedded mode: one process holds every socket, so its counts are the truth. */
export class MemoryPresence implements PresenceRegistry {
  private readonly devices = new DeviceCounts();

  async connect(userId: UserId): Promise<boolean> {
    return this.devices.add(userId) === 1;
  }

  async disconnect(userId: UserId): Promise<boolean> {
    const before = this.devices.get(userId);
    return before > 0 && this.devices.remove(userId) === 0;
  }

  async onlineAmong(userIds: readonly UserId[]): Promise<Set<UserId>> {
    return new Set(userIds.filter((id) => this.devices.get(id) > 0));
  }

  onChange(_handler: (userId: UserId, status: PresenceStatus) => void): void {
    // One process: every transition comes from a connect/disconnect call here.
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.devices.clear();
  }
}
