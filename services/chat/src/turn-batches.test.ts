import { describe, expect, it } from 'vitest';
import { TurnBatches } from './turn-batches.js';

describe('TurnBatches', () => {
  it('sends one turn’s items together, in order, at most maxBatch at a time, one batch in flight', async () => {
    const sent: number[][] = [];
    let inFlight = 0;
    let most = 0;
    const batches = new TurnBatches<number>(3, async (batch) => {
      inFlight++;
      most = Math.max(most, inFlight);
      sent.push(batch);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
    });
    for (let i = 1; i <= 7; i++) batches.push(i);
    await new Promise((resolve) => setTimeout(resolve, 1));
    // Pushed while the first batch is out: they wait for the next.
    batches.push(8);
    await batches.drain();
    expect(sent).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8],
    ]);
    expect(most).toBe(1);
  });

  it('drains at once when idle, and starts again after draining', async () => {
    const sent: string[][] = [];
    const batches = new TurnBatches<string>(10, async (batch) => {
      sent.push(batch);
    });
    await batches.drain();
    batches.push('a');
    await batches.drain();
    batches.push('b');
    batches.push('c');
    await batches.drain();
    expect(sent).toEqual([['a'], ['b', 'c']]);
  });
});
