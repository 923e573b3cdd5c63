import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatError } from '@relay-chat/protocol';
import { createTestDatabase, pgAvailable } from '@relay-chat/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openUserStore } from './store/kysely.js';
import type { UserStore } from './store/user-store.js';
import { LoginThrottle } from './throttle.js';

const MINUTE = 60_000;
const WINDOW = 15 * MINUTE;

interface StoreBackend {
  name: string;
  skip: boolean;
  open(): Promise<{ store: UserStore; destroy(): Promise<void> }>;
}

const backends: StoreBackend[] = [
  {
    name: 'SQLite',
    skip: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'auth-throttle-'));
      const store = openUserStore(`sqlite:${join(dir, 'auth.db')}`);
      await store.migrate();
      return {
        store,
        destroy: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    skip: !(await pgAvailable()),
    async open() {
      const database = await createTestDatabase('auth_throttle');
      const store = openUserStore(database.url);
      await store.migrate();
      return {
        store,
        destroy: async () => {
          await store.close();
          await database.drop();
        },
      };
    },
  },
];

async function rejection(promise: Promise<unknown>): Promise<ChatError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ChatError) return err;
    throw err;
  }
  throw new Error('expected a ChatError');
}

describe.each(backends)('LoginThrottle on $name', (backend) => {
  describe.skipIf(backend.skip)('policy', () => {
    let store: UserStore;
    let destroy: () => Promise<void>;
    let now: number;
    let throttle: LoginThrottle;
    let run = 0;
    // Each test uses its own usernames and addresses: state is in the shared database.
    let user: string;
    let ip: (n: number) => string;

    beforeAll(async () => {
      ({ store, destroy } = await backend.open());
    });
    afterAll(async () => {
      await destroy?.();
    });
    beforeEach(() => {
      run += 1;
      now = 1_700_000_000_000;
      throttle = new LoginThrottle(store, { now: () => now });
      user = `user${run}`;
      ip = (n) => `10.${run}.0.${n}`;
    });

    async function fail(username: string, address: string, times = 1) {
      for (let i = 0; i < times; i++) await (await throttle.begin(username, address)).failed();
    }

    /** An attacker's guess: refused or failed, either way no success. */
    async function guess(username: string, address: string) {
      try {
        await fail(username, address);
      } catch (err) {
        if (!(err instanceof ChatError && err.code === 'rate_limited')) throw err;
      }
    }

    it('allows 5 failures per account and address, then refuses with the time until the oldest expires', async () => {
      await fail(user, ip(1), 1);
      now += 5000;
      await fail(user, ip(1), 4);
      const error = await rejection(throttle.begin(user, ip(1)));
      expect(error.code).toBe('rate_limited');
      // The first failure was 5 s ago: it leaves the 15-minute window in 14 min 55 s.
      expect(error.retryAfterSec).toBe(WINDOW / 1000 - 5);
    });

    it('does not count refused attempts, so the lock ends one window after the failures stop', async () => {
      await fail(user, ip(1), 5);
      for (let i = 0; i < 20; i++) {
        now += 10_000;
        await rejection(throttle.begin(user, ip(1)));
      }
      now += WINDOW - 200_000;
      await (await throttle.begin(user, ip(1))).succeeded();
    });

    it('slides: once the oldest failure leaves the window, one more attempt is allowed', async () => {
      await fail(user, ip(1), 1);
      now += MINUTE;
      await fail(user, ip(1), 4);
      await rejection(throttle.begin(user, ip(1)));
      now += WINDOW - MINUTE + 1;
      await fail(user, ip(1), 1);
      await rejection(throttle.begin(user, ip(1)));
    });

    it('does not let failures from elsewhere lock the owner out of an address they logged in from', async () => {
      await (await throttle.begin(user, ip(1))).succeeded();
      for (let n = 2; n < 12; n++) await guess(user, ip(n));
      await rejection(throttle.begin(user, ip(99)));
      await (await throttle.begin(user, ip(1))).succeeded();
    });

    it('throttles the account for new addresses after 5 failures spread over many addresses', async () => {
      for (let n = 1; n <= 5; n++) await fail(user, ip(n), 1);
      const error = await rejection(throttle.begin(user, ip(99)));
      expect(error.code).toBe('rate_limited');
      expect(error.retryAfterSec).toBe(WINDOW / 1000);
    });

    it('treats an address remembered at registration as known', async () => {
      await throttle.remember(user, ip(1));
      for (let n = 2; n <= 7; n++) await guess(user, ip(n));
      await (await throttle.begin(user, ip(1))).succeeded();
    });

    it('forgets a known address after its time to live', async () => {
      throttle = new LoginThrottle(store, { now: () => now, knownAddressTtlMs: 60 * MINUTE });
      await throttle.remember(user, ip(1));
      now += 61 * MINUTE;
      for (let n = 2; n <= 6; n++) await guess(user, ip(n));
      await rejection(throttle.begin(user, ip(1)));
    });

    it('bounds failures per address over all accounts', async () => {
      for (let i = 0; i < 50; i++) await fail(`${user}-${i}`, ip(1), 1);
      const error = await rejection(throttle.begin(`${user}-fresh`, ip(1)));
      expect(error.code).toBe('rate_limited');
      // Another address is unaffected.
      await (await throttle.begin(`${user}-fresh`, ip(2))).succeeded();
    });

    it('clears the account-and-address count after a success', async () => {
      await throttle.remember(user, ip(1));
      await fail(user, ip(1), 4);
      await (await throttle.begin(user, ip(1))).succeeded();
      await fail(user, ip(1), 5);
      await rejection(throttle.begin(user, ip(1)));
    });

    it('counts in-flight attempts, so a burst of concurrent guesses gets at most 5 through', async () => {
      const results = await Promise.allSettled(Array.from({ length: 12 }, () => throttle.begin(user, ip(1))));
      expect(results.filter((r) => r.status === 'fulfilled').length).toBeLessThanOrEqual(5);
      for (const r of results) {
        if (r.status === 'rejected') expect((r.reason as ChatError).code).toBe('rate_limited');
      }
    });

    it('does not count a successful attempt as a failure', async () => {
      for (let i = 0; i < 10; i++) await (await throttle.begin(user, ip(1))).succeeded();
      await fail(user, ip(1), 5);
      await rejection(throttle.begin(user, ip(1)));
    });
  });
});
