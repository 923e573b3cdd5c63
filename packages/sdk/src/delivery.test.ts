import {
  asConversationId,
  asMessageId,
  asUserId,
  ChatError,
  type ConversationId,
  type Message,
} from '@relay-chat/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Delivery, type DeliveryOptions, type GapEvent } from './delivery.js';

const C1 = asConversationId('c1');

const msg = (seq: number, conv = 'c1'): Message => ({
  conv: asConversationId(conv),
  seq,
  id: asMessageId(`${conv}-${seq}`),
  from: asUserId('u1'),
  body: `body ${seq}`,
  ts: 1_700_000_000_000 + seq,
});

/**
 * History as a plain function over an array (what `after=` paging returns), so the
 * fetch-and-merge logic can be checked without any server. Each fetch can be held open to
 * interleave socket messages with it.
 */
function harness(options: Partial<DeliveryOptions> & { stored?: Record<ConversationId, number> } = {}) {
  const stored: Record<ConversationId, number> = { [C1]: 0, ...options.stored };
  const delivered: Message[] = [];
  const gaps: GapEvent[] = [];
  const fetches: { conv: ConversationId; after: number; limit: number }[] = [];
  let gate: Promise<void> | undefined;
  let failNext: ChatError | undefined;
  const delivery = new Delivery({
    gapWaitMs: 0,
    retry: { baseDelayMs: 1, maxDelayMs: 1 },
    ...options,
    fetchAfter: async (conv, after, limit) => {
      fetches.push({ conv, after, limit });
      if (gate) await gate;
      if (failNext) {
        const error = failNext;
        failNext = undefined;
        throw error;
      }
      const last = stored[conv] ?? 0;
      const page: Message[] = [];
      for (let seq = after + 1; seq <= Math.min(last, after + limit); seq++) page.push(msg(seq, conv));
      return page;
    },
    deliver: (m) => delivered.push(m),
    onGap: (e) => gaps.push(e),
  });
  return {
    delivery,
    delivered,
    gaps,
    fetches,
    stored,
    seqsOf: (conv = 'c1') => delivered.filter((m) => m.conv === conv).map((m) => m.seq),
    hold: () => {
      let release!: () => void;
      gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
    failNextFetch: (error: ChatError) => {
      failNext = error;
    },
  };
}

describe('Delivery', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('delivers in-order socket messages without touching history', () => {
    const h = harness();
    h.delivery.seed(asConversationId('c1'), 0);
    for (const seq of [1, 2, 3]) h.delivery.receive(msg(seq));
    expect(h.seqsOf()).toEqual([1, 2, 3]);
    expect(h.fetches).toEqual([]);
  });

  it('fills a jump from history in pages of at most pageSize, then releases the held message, in order', async () => {
    const h = harness({ pageSize: 2, stored: { [C1]: 7 } });
    h.delivery.seed(asConversationId('c1'), 0);
    h.delivery.receive(msg(7));
    await vi.waitFor(() => expect(h.seqsOf()).toEqual([1, 2, 3, 4, 5, 6, 7]));
    expect(h.fetches.map((f) => [f.after, f.limit])).toEqual([
      [0, 2],
      [2, 2],
      [4, 2],
    ]);
    expect(h.gaps).toEqual([
      { conv: 'c1', status: 'fetching', from: 1, to: 7 },
      { conv: 'c1', status: 'filled', lastSeq: 7 },
    ]);
  });

  it('never asks for more than 200 per page', () => {
    const h = harness({ pageSize: 5_000, stored: { [C1]: 3 } });
    h.delivery.seed(asConversationId('c1'), 0);
    h.delivery.noteLatest(asConversationId('c1'), 3);
    expect(h.fetches[0]?.limit).toBe(200);
  });

  it('delivers each seq once when socket messages arrive while a fetch is in flight', async () => {
    const h = harness({ pageSize: 200, stored: { [C1]: 5 } });
    h.delivery.seed(asConversationId('c1'), 0);
    const release = h.hold();
    h.delivery.receive(msg(5));
    await vi.waitFor(() => expect(h.fetches).toHaveLength(1));
    // While history is being read: the missing messages and newer ones arrive live.
    h.delivery.receive(msg(1));
    h.delivery.receive(msg(2));
    h.stored[C1] = 8;
    h.delivery.receive(msg(8));
    h.delivery.receive(msg(6));
    expect(h.seqsOf()).toEqual([1, 2]);
    release();
    await vi.waitFor(() => expect(h.seqsOf()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(h.gaps.at(-1)).toEqual({ conv: 'c1', status: 'filled', lastSeq: 8 });
  });

  it('fetches the gap announced at reconnect, from the previous lastSeq to the new one', async () => {
    const h = harness({ stored: { [C1]: 12 } });
    h.delivery.seed(asConversationId('c1'), 9);
    h.delivery.noteLatest(asConversationId('c1'), 12);
    await vi.waitFor(() => expect(h.seqsOf()).toEqual([10, 11, 12]));
    expect(h.fetches[0]?.after).toBe(9);
  });

  it('does nothing when the announced seq is already delivered', () => {
    const h = harness();
    h.delivery.seed(asConversationId('c1'), 4);
    h.delivery.noteLatest(asConversationId('c1'), 4);
    expect(h.fetches).toEqual([]);
  });

  it('waits gapWaitMs for a late socket message before asking history', async () => {
    vi.useFakeTimers();
    const h = harness({ gapWaitMs: 40, stored: { [C1]: 3 } });
    h.delivery.seed(asConversationId('c1'), 0);
    h.delivery.receive(msg(1));
    h.delivery.receive(msg(3));
    await vi.advanceTimersByTimeAsync(39);
    h.delivery.receive(msg(2));
    expect(h.seqsOf()).toEqual([1, 2, 3]);
    await vi.runAllTimersAsync();
    expect(h.fetches).toEqual([]);
  });

  it('retries a fetch that failed for a transient reason and still delivers everything once', async () => {
    const h = harness({ stored: { [C1]: 3 } });
    h.delivery.seed(asConversationId('c1'), 0);
    h.failNextFetch(new ChatError('unavailable'));
    h.delivery.noteLatest(asConversationId('c1'), 3);
    await vi.waitFor(() => expect(h.seqsOf()).toEqual([1, 2, 3]));
    expect(h.gaps.map((g) => g.status)).toEqual(['fetching', 'failed', 'fetching', 'filled']);
  });

  it('retries when history does not have the announced messages yet, instead of spinning', async () => {
    const h = harness({ stored: { [C1]: 1 } });
    h.delivery.seed(asConversationId('c1'), 0);
    h.delivery.noteLatest(asConversationId('c1'), 2);
    await vi.waitFor(() => expect(h.gaps.some((g) => g.status === 'failed')).toBe(true));
    expect(h.seqsOf()).toEqual([1]);
    h.stored[C1] = 2;
    await vi.waitFor(() => expect(h.seqsOf()).toEqual([1, 2]));
  });

  it('gives up on a non-retryable failure and reports it', async () => {
    const h = harness({ stored: { [C1]: 3 } });
    h.delivery.seed(asConversationId('c1'), 0);
    h.failNextFetch(new ChatError('not_member'));
    h.delivery.noteLatest(asConversationId('c1'), 3);
    await vi.waitFor(() =>
      expect(h.gaps.at(-1)).toMatchObject({ status: 'failed', error: { code: 'not_member' } }),
    );
    expect(h.gaps.at(-1)).not.toHaveProperty('retryInMs');
    expect(h.fetches).toHaveLength(1);
  });

  it('holds messages of an unknown conversation, asks about it, and delivers once seeded', () => {
    const unknown: string[] = [];
    const h = harness({ onUnknownConversation: (conv) => unknown.push(conv) });
    h.delivery.receive(msg(5, 'c9'));
    h.delivery.receive(msg(4, 'c9'));
    expect(unknown).toEqual(['c9', 'c9']);
    expect(h.delivery.has(asConversationId('c9'))).toBe(true);
    expect(h.delivery.isSeeded(asConversationId('c9'))).toBe(false);
    expect(h.delivery.lowestHeld(asConversationId('c9'))).toBe(4);
    h.delivery.seed(asConversationId('c9'), 3);
    expect(h.seqsOf('c9')).toEqual([4, 5]);
    expect(h.delivery.lastSeq(asConversationId('c9'))).toBe(5);
  });

  it('discards a fetch in flight for a conversation that was forgotten', async () => {
    const h = harness({ stored: { [C1]: 3 } });
    h.delivery.seed(asConversationId('c1'), 0);
    const release = h.hold();
    h.delivery.noteLatest(asConversationId('c1'), 3);
    await vi.waitFor(() => expect(h.fetches).toHaveLength(1));
    vi.useFakeTimers();
    h.delivery.forget(asConversationId('c1'));
    release();
    // Lets the fetch settle and runs whatever it scheduled (a retry would be a timer).
    await vi.runAllTimersAsync();
    expect(h.delivered).toEqual([]);
    expect(h.delivery.has(asConversationId('c1'))).toBe(false);
  });

  it('runs at most maxConcurrentFetches fetches at once and fills every conversation', async () => {
    const convs = ['a', 'b', 'c', 'd', 'e'];
    const h = harness({ maxConcurrentFetches: 2, stored: Object.fromEntries(convs.map((c) => [c, 2])) });
    const release = h.hold();
    for (const conv of convs) {
      h.delivery.seed(asConversationId(conv), 0);
      h.delivery.noteLatest(asConversationId(conv), 2);
    }
    await vi.waitFor(() => expect(h.fetches).toHaveLength(2));
    release();
    await vi.waitFor(() => expect(h.delivered).toHaveLength(10));
    for (const conv of convs) expect(h.seqsOf(conv)).toEqual([1, 2]);
  });

  it('snapshots lastSeq per seeded conversation for a later resume', () => {
    const h = harness();
    h.delivery.seed(asConversationId('c1'), 0);
    h.delivery.receive(msg(1));
    h.delivery.receive(msg(1, 'c2'));
    expect(h.delivery.snapshot()).toEqual({ [C1]: 1 });
  });

  it('stops delivering after close, and resumes fetching after reopen', async () => {
    const h = harness({ stored: { [C1]: 2 } });
    h.delivery.seed(asConversationId('c1'), 0);
    const release = h.hold();
    h.delivery.noteLatest(asConversationId('c1'), 2);
    await vi.waitFor(() => expect(h.fetches).toHaveLength(1));
    vi.useFakeTimers();
    h.delivery.close();
    release();
    await vi.runAllTimersAsync();
    expect(h.delivered).toEqual([]);
    h.delivery.reopen();
    h.delivery.noteLatest(asConversationId('c1'), 2);
    await vi.waitFor(() => expect(h.seqsOf()).toEqual([1, 2]));
  });
});
