import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, type Harness, startAuth } from '../testing/harness.js';

const PASSWORD = 'correct horse battery staple';
/** A hash cost that dominates everything else a request does (tens of ms), for the load tests. */
const LOAD_PARAMS = { N: 2 ** 14, r: 8, p: 1 };

const register = (h: Harness, username: string, remoteAddress: string) =>
  h.app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { username, password: PASSWORD },
    remoteAddress,
  });

const login = (h: Harness, username: string, remoteAddress = '10.7.0.1') =>
  h.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username, password: PASSWORD },
    remoteAddress,
  });

async function metricValue(h: Harness, series: string): Promise<number> {
  const text = (await h.app.inject({ method: 'GET', url: '/api/auth/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe.each(BACKENDS)('registration throttling on $name', (backend) => {
  describe.skipIf(!backend.available)('per address and overall, per hour', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startAuth(backend, {
        env: { REGISTER_PER_ADDRESS_PER_HOUR: '3', REGISTER_PER_HOUR: '5' },
      });
    });
    afterAll(async () => {
      await h?.close();
    });

    it('admits REGISTER_PER_ADDRESS_PER_HOUR registrations from one address, then answers 429 with Retry-After', async () => {
      for (let i = 0; i < 3; i++)
        expect((await register(h, `per-addr-${i}`, '10.8.0.1')).statusCode).toBe(201);
      const refused = await register(h, 'per-addr-3', '10.8.0.1');
      expect(refused.statusCode).toBe(429);
      expect(refused.json().error.code).toBe('rate_limited');
      const retryAfter = Number(refused.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(3500);
      expect(retryAfter).toBeLessThanOrEqual(3600);
      // Another address is not affected by that address's bound.
      expect((await register(h, 'other-addr-0', '10.8.0.2')).statusCode).toBe(201);
    });

    it('admits REGISTER_PER_HOUR registrations over all addresses', async () => {
      expect((await register(h, 'other-addr-1', '10.8.0.3')).statusCode).toBe(201);
      const refused = await register(h, 'other-addr-2', '10.8.0.4');
      expect(refused.statusCode).toBe(429);
      expect(refused.json().error.code).toBe('rate_limited');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      // Nothing was created for a refused registration.
      expect(await h.store.findUserByUsername('other-addr-2')).toBeUndefined();
    });

    it('admits registrations again once the hour has passed', async () => {
      h.clock.advance(3600_000 + 1000);
      expect((await register(h, 'per-addr-3', '10.8.0.1')).statusCode).toBe(201);
    });
  });
});

describe.skipIf(!BACKENDS[0]!.available)('a client that keeps registering past its bound', () => {
  it('gets its 429 only after REGISTER_REFUSAL_DELAY_MS, so a loop ignoring Retry-After is slowed down', async () => {
    const h = await startAuth(BACKENDS[0]!, {
      env: { REGISTER_PER_ADDRESS_PER_HOUR: '1', REGISTER_REFUSAL_DELAY_MS: '300' },
    });
    try {
      expect((await register(h, 'first', '10.10.0.1')).statusCode).toBe(201);
      for (const name of ['second', 'third']) {
        const started = performance.now();
        const refused = await register(h, name, '10.10.0.1');
        expect(refused.statusCode).toBe(429);
        expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      }
    } finally {
      await h.close();
    }
  });
});

describe.skipIf(!BACKENDS[0]!.available)('password hashing as a scheduled resource', () => {
  it('serves a login before a flood of queued registrations, in about its idle time', async () => {
    // One hashing slot: whatever else shares this machine's cores slows the idle measurement
    // and the flood alike.
    const h = await startAuth(BACKENDS[0]!, {
      env: {
        PASSWORD_HASH_CONCURRENCY: '1',
        REGISTER_HASH_QUEUE_MAX: '64',
        REGISTER_HASH_MAX_WAIT_MS: '600000',
      },
      options: { passwordParams: LOAD_PARAMS },
    });
    try {
      expect((await register(h, 'resident', '10.7.0.1')).statusCode).toBe(201);
      // Idle login time (median of three), measured here, now.
      const idle: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        expect((await login(h, 'resident')).statusCode).toBe(200);
        idle.push(performance.now() - started);
      }
      const idleMs = idle.sort((a, b) => a - b)[1]!;

      const FLOOD = 12;
      let registered = 0;
      const flood = Array.from({ length: FLOOD }, (_, i) =>
        register(h, `flood-${i}`, `10.9.${i}.1`).then((res) => {
          registered += 1;
          return res;
        }),
      );
      // Wait (bounded) until the flood is queued behind the running hash.
      const deadline = Date.now() + 10_000;
      while ((await metricValue(h, 'auth_password_hash_queued{priority="register"}')) < FLOOD - 1) {
        if (Date.now() > deadline) throw new Error('the registrations never queued up');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }

      const registeredBefore = registered;
      const started = performance.now();
      const res = await login(h, 'resident');
      const loginMs = performance.now() - started;
      const registeredDuring = registered - registeredBefore;
      expect(res.statusCode).toBe(200);

      const responses = await Promise.all(flood);
      expect(responses.map((r) => r.statusCode)).toEqual(Array(FLOOD).fill(201));
      // The login waited for the hash running when it arrived, not for the eleven queued (a
      // registration whose hash ended as the login began may answer during it, and one more
      // may start while the login reads the throttle state).
      expect(registeredDuring).toBeLessThanOrEqual(3);
      // That hash's rest, then its own: at most about twice the idle time (loose for a shared
      // machine), where the back of the queue waits twelve hash times.
      expect(loginMs).toBeLessThan(3 * idleMs + 250);
    } finally {
      await h.close();
    }
  });

  it('answers registrations past the queue bound 429 with Retry-After before any queued one finishes', async () => {
    const h = await startAuth(BACKENDS[0]!, {
      env: {
        PASSWORD_HASH_CONCURRENCY: '1',
        REGISTER_HASH_QUEUE_MAX: '2',
        REGISTER_PER_ADDRESS_PER_HOUR: '1',
      },
      options: { passwordParams: LOAD_PARAMS },
    });
    try {
      const order: number[] = [];
      const responses = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          register(h, `burst-${i}`, `10.10.${i}.1`).then((res) => {
            order.push(res.statusCode);
            return res;
          }),
        ),
      );
      // One hashing, two waiting; the other five are refused without waiting for any hash.
      expect(order.filter((s) => s === 201)).toHaveLength(3);
      expect(order.filter((s) => s === 429)).toHaveLength(5);
      expect(order.slice(0, 5)).toEqual(Array(5).fill(429));
      for (const res of responses.filter((r) => r.statusCode === 429)) {
        expect(res.json().error.code).toBe('rate_limited');
        expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      // A refused registration did not count against the address: it can retry at once.
      const retried = responses.findIndex((r) => r.statusCode === 429);
      expect((await register(h, `burst-${retried}`, `10.10.${retried}.1`)).statusCode).toBe(201);
    } finally {
      await h.close();
    }
  });
});
