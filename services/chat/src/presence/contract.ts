/**
 * The one contract every PresenceRegistry passes (memory.test.ts, redis.test.ts): what a
 * gateway relies on, whatever carries the counts. `peer` makes another registry of the same
 * deployment (another replica), for the implementations that span processes.
 */
import { asUserId, type PresenceStatus, type UserId } from '@relay-chat/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { PresenceRegistry } from './presence-registry.js';

const u1 = asUserId('u1');
const u2 = asUserId('u2');
const alice = asUserId('alice');
const bob = asUserId('bob');
const carol = asUserId('carol');
const dave = asUserId('dave');
const nobody = asUserId('nobody');
const shared = asUserId('shared');
const alone = asUserId('alone');

export interface PresenceContractOptions {
  /** A started registry of a fresh deployment. */
  create(): Promise<PresenceRegistry>;
  /** A started registry of the same deployment as the last `create()`; absent for one-process registries. */
  peer?: () => Promise<PresenceRegistry>;
}

export function describePresenceRegistry(name: string, options: PresenceContractOptions): void {
  describe(`${name}: the presence contract`, () => {
    const open: PresenceRegistry[] = [];
    const make = async (how: 'create' | 'peer' = 'create') => {
      const registry = how === 'create' ? await options.create() : await options.peer!();
      open.push(registry);
      return registry;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((r) => r.close()));
    });

    it('is online from the first device and offline only after the last', async () => {
      const presence = await make();
      expect(await presence.connect(u1)).toBe(true);
      expect(await presence.connect(u1)).toBe(false);
      expect(await presence.disconnect(u1)).toBe(false);
      expect(await presence.onlineAmong([u1, u2])).toEqual(new Set([u1]));
      expect(await presence.disconnect(u1)).toBe(true);
      expect(await presence.onlineAmong([u1, u2])).toEqual(new Set());
    });

    it('answers onlineAmong with exactly the connected users', async () => {
      const presence = await make();
      await presence.connect(alice);
      await presence.connect(bob);
      await presence.connect(carol);
      await presence.disconnect(carol);
      expect(await presence.onlineAmong([alice, bob, carol, dave])).toEqual(new Set([alice, bob]));
      expect(await presence.onlineAmong([])).toEqual(new Set());
    });

    it('ignores a disconnect of a user with no device here', async () => {
      const presence = await make();
      expect(await presence.disconnect(nobody)).toBe(false);
      await presence.connect(u1);
      await presence.disconnect(u1);
      expect(await presence.disconnect(u1)).toBe(false);
      expect(await presence.onlineAmong([u1, nobody])).toEqual(new Set());
    });

    it.skipIf(!options.peer)(
      'counts devices over replicas: online with the first anywhere, offline after the last everywhere',
      async () => {
        const a = await make();
        const b = await make('peer');
        expect(await a.connect(u1)).toBe(true);
        expect(await b.connect(u1)).toBe(false);
        expect(await a.disconnect(u1)).toBe(false);
        expect(await b.onlineAmong([u1])).toEqual(new Set([u1]));
        expect(await b.disconnect(u1)).toBe(true);
        expect(await a.onlineAmong([u1])).toEqual(new Set());
      },
    );

    it.skipIf(!options.peer)(
      'reports the users a closing replica takes offline, and only those',
      async () => {
        const a = await make();
        const b = await make('peer');
        const seen: Array<[UserId, PresenceStatus]> = [];
        b.onChange((user, status) => seen.push([user, status]));
        await a.connect(shared);
        await b.connect(shared);
        await b.connect(alone);
        await b.close();
        expect(seen).toEqual([[alone, 'offline']]);
        expect(await a.onlineAmong([shared, alone])).toEqual(new Set([shared]));
      },
    );
  });
}
