import { ChatError } from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import {
  cleanRedisPrefix,
  freePort,
  REDIS_TEST_URL,
  redisAvailable,
  redisTestPrefix,
} from '@relay-chat/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeyedBudget } from './keyed-budget.js';
import { RedisBudget } from './redis-budget.js';

const logger = createLogger({ name: 'budget-test', level: 'silent' });

describe.skipIf(!(await redisAvailable()))('RedisBudget', () => {
  const open: RedisBudget[] = [];
  let prefix = '';
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.stop()));
    await cleanRedisPrefix(prefix);
  });

  function replica(url = REDIS_TEST_URL, ratePerSec = 1, burst = 5): RedisBudget {
    const budget = new RedisBudget({
      url,
      prefix,
      name: 'send',
      ratePerSec,
      burst,
      what: 'sending too fast',
      fallback: new KeyedBudget({ ratePerSec, burst, what: 'sending too fast' }),
      logger,
      timeoutMs: 300,
    });
    open.push(budget);
    return budget;
  }

  async function taken(budget: RedisBudget, key: string, n: number): Promise<number> {
    let ok = 0;
    for (let i = 0; i < n; i++) {
      try {
        await budget.take(key);
        ok += 1;
      } catch (err) {
        expect(err).toBeInstanceOf(ChatError);
        expect((err as ChatError).code).toBe('rate_limited');
        expect((err as ChatError).retryAfterSec).toBeGreaterThan(0);
      }
    }
    return ok;
  }

  it('is one budget per key over every replica: a user gets a burst in all, not one per replica', async () => {
    prefix = redisTestPrefix('budget');
    const [a, b, c] = [replica(), replica(), replica()];
    await Promise.all([a.ready(), b.ready(), c.ready()]);
    const allowed = (await taken(a, 'ada', 4)) + (await taken(b, 'ada', 4)) + (await taken(c, 'ada', 4));
    expect(allowed).toBe(5);
    // Another key has its own.
    expect(await taken(b, 'bob', 5)).toBe(5);
  });

  it('takes a turn of concurrent actions in one call, in order: the burst goes to the first ones', async () => {
    prefix = redisTestPrefix('budget');
    const budget = replica(REDIS_TEST_URL, 1, 5);
    await budget.ready();
    const order: string[] = [];
    const takes = ['ada', 'ada', 'bob', 'ada', 'ada', 'ada', 'ada', 'ada', 'bob'].map((key, i) =>
      budget.take(key).then(
        () => order.push(`${i} ${key} ok`),
        (err: unknown) => order.push(`${i} ${key} ${(err as ChatError).code}`),
      ),
    );
    await Promise.all(takes);
    expect(order).toEqual([
      '0 ada ok',
      '1 ada ok',
      '2 bob ok',
      '3 ada ok',
      '4 ada ok',
      '5 ada ok',
      '6 ada rate_limited',
      '7 ada rate_limited',
      '8 bob ok',
    ]);
  });

  it('groups takes that arrive while a call is in flight into the next call', async () => {
    prefix = redisTestPrefix('budget');
    const budget = replica(REDIS_TEST_URL, 1000, 1000);
    await budget.ready();
    const calls = vi.spyOn(
      budget as unknown as { waitsOf: (keys: string[]) => Promise<number[]> },
      'waitsOf',
    );
    const first = budget.take('ada');
    // Queued while the first call is on its way.
    await new Promise((resolve) => setImmediate(resolve));
    const later = Array.from({ length: 20 }, (_, i) => budget.take(`user-${i}`));
    await Promise.all([first, ...later]);
    // One script call for the first take, one for the 20 queued behind it.
    expect(calls.mock.calls.map(([keys]) => keys.length)).toEqual([1, 20]);
  });

  it('answers from the replica alone while Redis does not answer, instead of refusing everyone', async () => {
    prefix = redisTestPrefix('budget');
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    const budget = replica(nowhere, 1, 3);
    expect(await taken(budget, 'ada', 5)).toBe(3);
  });
});
