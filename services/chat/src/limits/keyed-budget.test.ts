import { ChatError } from '@relay-chat/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyedBudget } from './keyed-budget.js';

describe('KeyedBudget', () => {
  let now = 0;
  const budgets: KeyedBudget<string>[] = [];
  const make = (ratePerSec: number, burst: number) => {
    const budget = new KeyedBudget<string>({ ratePerSec, burst, what: 'sending too fast', now: () => now });
    budgets.push(budget);
    return budget;
  };
  afterEach(() => {
    for (const budget of budgets.splice(0)) budget.stop();
    now = 0;
  });

  it('allows a burst, then refuses with rate_limited and the wait until the next token', () => {
    const budget = make(10, 3);
    for (let i = 0; i < 3; i++) budget.take('ada');
    let refused: unknown;
    try {
      budget.take('ada');
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(ChatError);
    expect((refused as ChatError).code).toBe('rate_limited');
    expect((refused as ChatError).retryAfterSec).toBeCloseTo(0.1, 5);
    now += 100;
    expect(() => budget.take('ada')).not.toThrow();
  });

  it('keeps one budget per key, so one key running dry leaves the others alone', () => {
    const budget = make(1, 1);
    budget.take('ada');
    expect(() => budget.take('ada')).toThrow(ChatError);
    expect(() => budget.take('bob')).not.toThrow();
  });

  it('remembers a spent bucket across calls — a reconnect does not refill it', () => {
    const budget = make(1, 2);
    budget.take('ada');
    budget.take('ada');
    // Whatever the caller did in between (closing and opening sockets), the key is the user.
    expect(() => budget.take('ada')).toThrow(ChatError);
    expect(budget.size).toBe(1);
  });
});
