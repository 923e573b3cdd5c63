import type { PresenceStatus, UserId } from '@relay-chat/protocol';
import { DeviceCounts } from './device-counts.js';
import type { PresenceRegistry } from './presence-registry.js';

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
