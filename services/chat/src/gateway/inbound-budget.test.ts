import { describe, expect, it } from 'vitest';
import { InboundBudget } from './inbound-budget.js';

describe('InboundBudget', () => {
  it('accepts a burst, then drops with one notice per interval, then closes a flood that ignores it', () => {
    const now = 0;
    const budget = new InboundBudget({ framesPerSec: 10, burst: 5, noticeIntervalMs: 1000 }, () => now);
    for (let i = 0; i < 5; i++) expect(budget.onFrame().kind).toBe('accept');
    const first = budget.onFrame();
    expect(first).toMatchObject({ kind: 'drop', notify: true });
    expect(first.kind === 'drop' && first.retryAfterMs).toBe(100);
    // Within the notice interval: dropped silently, up to one more burst…
    for (let i = 0; i < 4; i++) expect(budget.onFrame()).toMatchObject({ kind: 'drop', notify: false });
    // …then the connection is closed.
    expect(budget.onFrame().kind).toBe('close');
  });

  it('refills with time, so a client that waits as told goes on', () => {
    let now = 0;
    const budget = new InboundBudget({ framesPerSec: 10, burst: 2, noticeIntervalMs: 1000 }, () => now);
    budget.onFrame();
    budget.onFrame();
    expect(budget.onFrame().kind).toBe('drop');
    now += 100;
    expect(budget.onFrame().kind).toBe('accept');
    now += 1000;
    // A new notice interval: the next drop notifies again.
    budget.onFrame();
    budget.onFrame();
    expect(budget.onFrame()).toMatchObject({ kind: 'drop', notify: true });
  });
});
