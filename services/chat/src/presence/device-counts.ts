import type { UserId } from '@relay-chat/protocol';
import { gauge } from '@relay-chat/service-kit';

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
