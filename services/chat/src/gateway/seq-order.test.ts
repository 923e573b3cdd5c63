import { metricsRegistry } from '@relay-chat/service-kit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SeqOrder } from './seq-order.js';

const frame = (seq: number) => Buffer.from(String(seq));

function collector(holdMs = 50) {
  const out: number[] = [];
  const order = new SeqOrder((f) => out.push(Number(f.toString())), holdMs);
  return { out, order };
}

describe('SeqOrder', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes messages in order straight through', () => {
    const { out, order } = collector();
    for (const seq of [1, 2, 3]) order.push(seq, frame(seq));
    expect(out).toEqual([1, 2, 3]);
    expect(order.holding).toBe(0);
  });

  it('holds a message that overtook a missing seq until it arrives', () => {
    const { out, order } = collector();
    order.expect(5);
    order.push(6, frame(6));
    order.push(7, frame(7));
    expect(out).toEqual([]);
    expect(order.holding).toBe(2);
    order.push(5, frame(5));
    expect(out).toEqual([5, 6, 7]);
    expect(order.holding).toBe(0);
  });

  it('releases what it holds, in order, when the missing seq never comes', () => {
    vi.useFakeTimers();
    const { out, order } = collector(50);
    order.push(1, frame(1));
    order.push(4, frame(4));
    order.push(3, frame(3));
    vi.advanceTimersByTime(49);
    expect(out).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(out).toEqual([1, 3, 4]);
    // The stream goes on after the gap; a late arrival of the lost seq is passed on at once.
    order.push(5, frame(5));
    order.push(2, frame(2));
    expect(out).toEqual([1, 3, 4, 5, 2]);
  });

  it('passes a re-published or already-stored seq at once', () => {
    const { out, order } = collector();
    order.expect(10);
    order.push(9, frame(9));
    order.push(10, frame(10));
    order.push(10, frame(10));
    expect(out).toEqual([9, 10, 10]);
  });

  it('takes its start from the first live message when no state set it, and keeps it', () => {
    const { out, order } = collector();
    order.push(8, frame(8));
    order.expect(3);
    order.push(9, frame(9));
    expect(out).toEqual([8, 9]);
  });

  it('never waits with a zero window', () => {
    const { out, order } = collector(0);
    order.push(1, frame(1));
    order.push(3, frame(3));
    order.push(2, frame(2));
    expect(out).toEqual([1, 3, 2]);
  });

  it('bounds what it holds', () => {
    const out: number[] = [];
    const order = new SeqOrder((f) => out.push(Number(f.toString())), 10_000, 3);
    order.push(1, frame(1));
    for (const seq of [5, 4, 3]) order.push(seq, frame(seq));
    expect(out).toEqual([1]);
    order.push(6, frame(6));
    expect(out).toEqual([1, 3, 4, 5, 6]);
    order.close();
  });

  it('drops what it holds on close and fires nothing later', () => {
    vi.useFakeTimers();
    const { out, order } = collector(50);
    order.push(1, frame(1));
    order.push(3, frame(3));
    order.close();
    vi.advanceTimersByTime(100);
    expect(out).toEqual([1]);
  });

  it('counts the messages it holds and the holds that ran out (for /metrics)', async () => {
    vi.useFakeTimers();
    const value = async (name: string) =>
      (await metricsRegistry.getSingleMetric(name)!.get()).values.reduce((sum, v) => sum + v.value, 0);
    const [held, gaveUp] = [
      await value('chat_reorder_held_total'),
      await value('chat_reorder_gave_up_total'),
    ];
    const { order } = collector(50);
    for (const seq of [1, 2, 3]) order.push(seq, frame(seq));
    expect(await value('chat_reorder_held_total')).toBe(held);
    order.push(5, frame(5));
    order.push(6, frame(6));
    vi.advanceTimersByTime(50);
    expect(await value('chat_reorder_held_total')).toBe(held + 2);
    expect(await value('chat_reorder_gave_up_total')).toBe(gaveUp + 1);
  });
});
