import { describe, expect, it } from 'vitest';
import { Backoff, fullJitterDelay } from './backoff.js';

describe('fullJitterDelay', () => {
  it('stays within [0, min(max, base * 2^attempt)] for every attempt', () => {
    const options = { baseDelayMs: 100, maxDelayMs: 5_000 };
    for (let attempt = 0; attempt < 40; attempt++) {
      const ceiling = Math.min(5_000, 100 * 2 ** attempt);
      for (const r of [0, 0.25, 0.5, 0.999999]) {
        const delay = fullJitterDelay(attempt, options, () => r);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  it('spreads delays over the whole window rather than around its top (full jitter)', () => {
    expect(fullJitterDelay(3, { baseDelayMs: 100 }, () => 0)).toBe(0);
    expect(fullJitterDelay(3, { baseDelayMs: 100 }, () => 0.5)).toBe(400);
    expect(fullJitterDelay(3, { baseDelayMs: 100 }, () => 0.999999)).toBe(799);
  });

  it('caps the window at maxDelayMs and never overflows for huge attempts', () => {
    expect(fullJitterDelay(10_000, { baseDelayMs: 500, maxDelayMs: 30_000 }, () => 0.999999)).toBe(29_999);
    expect(Number.isFinite(fullJitterDelay(1e9, {}, () => 0.5))).toBe(true);
  });

  it('treats a negative or fractional attempt as its floor, at least 0', () => {
    expect(fullJitterDelay(-3, { baseDelayMs: 100 }, () => 0.999999)).toBe(99);
    expect(fullJitterDelay(1.7, { baseDelayMs: 100 }, () => 0.999999)).toBe(199);
  });
});

describe('Backoff', () => {
  it('widens the window with each delay and starts over after reset', () => {
    const backoff = new Backoff({ baseDelayMs: 10, maxDelayMs: 1_000 }, () => 0.999999);
    const delays = Array.from({ length: 9 }, () => backoff.next());
    expect(delays).toEqual([9, 19, 39, 79, 159, 319, 639, 999, 999]);
    expect(backoff.attempt).toBe(9);
    backoff.reset();
    expect(backoff.attempt).toBe(0);
    expect(backoff.next()).toBe(9);
  });

  it('uses the defaults of 500 ms base and 30 s cap', () => {
    const backoff = new Backoff({}, () => 0.999999);
    expect(backoff.next()).toBe(499);
    for (let i = 0; i < 20; i++) backoff.next();
    expect(backoff.next()).toBe(29_999);
  });

  it('rejects nonsensical options', () => {
    expect(() => new Backoff({ baseDelayMs: -1 })).toThrow(RangeError);
    expect(() => new Backoff({ factor: 0.5 })).toThrow(RangeError);
    expect(() => new Backoff({ maxDelayMs: Number.NaN })).toThrow(RangeError);
  });
});
