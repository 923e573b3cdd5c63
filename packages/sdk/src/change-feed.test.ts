import { asConversationId, asMessageId, asUserId, ChatError, type Message } from '@relay-chat/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ChangeEvent, ChangeFeed, type ChangeFeedOptions } from './change-feed.js';

const C1 = asConversationId('c1');
const C2 = asConversationId('c2');

const state = (conv: string, seq: number, changeSeq: number): Message => ({
  conv: asConversationId(conv),
  seq,
  id: asMessageId(`${conv}-${seq}`),
  from: asUserId('u1'),
  body: `${seq} at change ${changeSeq}`,
  ts: seq,
  editedAt: changeSeq,
  changeSeq,
});

/**
 * A store of changes as the server keeps them: each change stamps a message's row, so the
 * changes route answers each changed message once, in its current state (compacted).
 */
function harness(options: Partial<ChangeFeedOptions> = {}) {
  const log = new Map<string, { changeSeq: number; seq: number }[]>();
  const applied: ChangeEvent[] = [];
  const fetches: { conv: string; after: number; limit: number }[] = [];
  const errors: { conv: string; error: ChatError; retryInMs?: number }[] = [];
  let gate: Promise<void> | undefined;
  let failNext: ChatError | undefined;
  const current = (conv: string) => {
    const rows = new Map<number, number>();
    for (const { changeSeq, seq } of log.get(conv) ?? []) rows.set(seq, changeSeq);
    return [...rows].map(([seq, changeSeq]) => state(conv, seq, changeSeq));
  };
  const feed = new ChangeFeed({
    gapWaitMs: 0,
    retry: { baseDelayMs: 1, maxDelayMs: 1 },
    ...options,
    fetchChanges: async (conv, after, limit) => {
      fetches.push({ conv, after, limit });
      if (gate) await gate;
      if (failNext) {
        const error = failNext;
        failNext = undefined;
        throw error;
      }
      const messages = current(conv)
        .filter((m) => (m.changeSeq ?? 0) > after)
        .sort((a, b) => (a.changeSeq ?? 0) - (b.changeSeq ?? 0))
        .slice(0, limit);
      return { messages, lastChangeSeq: log.get(conv)?.length ?? 0 };
    },
    apply: (change) => applied.push(change),
    onError: (conv, error, retryInMs) =>
      errors.push({ conv, error, ...(retryInMs === undefined ? {} : { retryInMs }) }),
  });
  return {
    feed,
    applied,
    fetches,
    errors,
    /** Records a change of message `seq` in `conv`; returns the live frame's content. */
    change(seq: number, conv = 'c1'): ChangeEvent {
      const rows = log.get(conv) ?? [];
      log.set(conv, rows);
      const changeSeq = rows.length + 1;
      rows.push({ changeSeq, seq });
      return { conv: asConversationId(conv), changeSeq, message: state(conv, seq, changeSeq) };
    },
    appliedSeqs: (conv = 'c1') => applied.filter((c) => c.conv === conv).map((c) => c.changeSeq),
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

describe('ChangeFeed', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('applies live changes in order without fetching, and drops duplicates', () => {
    const h = harness();
    h.feed.track(C1, 0);
    const [a, b] = [h.change(1), h.change(2)];
    h.feed.receive(a);
    h.feed.receive(b);
    h.feed.receive(a);
    expect(h.appliedSeqs()).toEqual([1, 2]);
    expect(h.fetches).toEqual([]);
  });

  it('holds a change that jumps ahead for gapWaitMs; the missing one arriving meanwhile needs no fetch', async () => {
    vi.useFakeTimers();
    const h = harness({ gapWaitMs: 200 });
    h.feed.track(C1, 0);
    const [a, b] = [h.change(1), h.change(2)];
    h.feed.receive(b);
    await vi.advanceTimersByTimeAsync(150);
    expect(h.applied).toEqual([]);
    h.feed.receive(a);
    expect(h.appliedSeqs()).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.fetches).toEqual([]);
  });

  it('after gapWaitMs fetches the gap from what it applied, and applies each change once, in order', async () => {
    vi.useFakeTimers();
    const h = harness({ gapWaitMs: 200 });
    h.feed.track(C1, 0);
    h.change(1);
    h.change(2);
    const third = h.change(3);
    h.feed.receive(third);
    await vi.advanceTimersByTimeAsync(199);
    expect(h.fetches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(h.appliedSeqs()).toEqual([1, 2, 3]));
    expect(h.fetches).toEqual([{ conv: 'c1', after: 0, limit: 200 }]);
  });

  it('catches up on what a reconnect announces at once, paging, with superseded changes skipped', async () => {
    const h = harness({ pageSize: 2 });
    h.feed.track(C1, 1);
    h.change(1); // applied before (baseline 1)
    h.change(2);
    h.change(3);
    h.change(2); // 4 supersedes 2 for message 2
    h.change(4);
    h.change(5);
    h.feed.track(C1, 6); // a ready: lastChangeSeq 6
    await vi.waitFor(() => expect(h.appliedSeqs()).toEqual([3, 4, 5, 6]));
    expect(h.applied.find((c) => c.changeSeq === 4)?.message.seq).toBe(2);
    expect(h.fetches.map((f) => [f.after, f.limit])).toEqual([
      [1, 2],
      [4, 2],
    ]);
    expect(h.feed.applied(C1)).toBe(6);
  });

  it('applies each change once when live copies arrive while a fetch is in flight', async () => {
    const h = harness();
    h.feed.track(C1, 0);
    const changes = [1, 2, 3, 4].map((seq) => h.change(seq));
    const release = h.hold();
    h.feed.track(C1, 3);
    await vi.waitFor(() => expect(h.fetches).toHaveLength(1));
    h.feed.receive(changes[0]!);
    h.feed.receive(changes[3]!);
    release();
    await vi.waitFor(() => expect(h.appliedSeqs()).toEqual([1, 2, 3, 4]));
  });

  it('a conversation first seen takes its counter as baseline: nothing before it is applied or fetched', async () => {
    const h = harness();
    h.change(1);
    h.change(2);
    h.feed.track(C1, 2);
    await Promise.resolve();
    expect(h.fetches).toEqual([]);
    expect(h.feed.applied(C1)).toBe(2);
    h.feed.receive(h.change(3));
    expect(h.appliedSeqs()).toEqual([3]);
  });

  it('holds changes of a conversation not known yet and applies those after its baseline once it is', () => {
    const h = harness();
    const unknown: string[] = [];
    const feed = new ChangeFeed({
      fetchChanges: async () => ({ messages: [], lastChangeSeq: 0 }),
      apply: (c) => h.applied.push(c),
      onUnknownConversation: (conv) => unknown.push(conv),
    });
    const [a, b] = [h.change(1, 'c2'), h.change(2, 'c2')];
    feed.receive(b);
    feed.receive(a);
    expect(h.applied).toEqual([]);
    expect(unknown).toEqual(['c2', 'c2']);
    feed.track(C2, 1);
    expect(h.appliedSeqs('c2')).toEqual([2]);
  });

  it('notes an ack only for a conversation with a baseline, and fetches if its change frame never comes', async () => {
    const h = harness();
    h.feed.noteLatest(C1, 3);
    expect(h.feed.applied(C1)).toBeUndefined();
    h.feed.track(C1, 0);
    h.change(1);
    h.feed.noteLatest(C1, 1);
    await vi.waitFor(() => expect(h.appliedSeqs()).toEqual([1]));
  });

  it('retries a failed fetch after a jittered delay, and reports a failure that will not pass', async () => {
    const h = harness();
    h.feed.track(C1, 0);
    h.change(1);
    h.failNextFetch(new ChatError('unavailable', 'down'));
    h.feed.track(C1, 1);
    await vi.waitFor(() => expect(h.appliedSeqs()).toEqual([1]));
    expect(h.errors[0]).toMatchObject({ conv: 'c1', retryInMs: expect.any(Number) });

    h.change(2);
    h.failNextFetch(new ChatError('not_member', 'gone'));
    h.feed.track(C1, 2);
    await vi.waitFor(() => expect(h.errors).toHaveLength(2));
    expect(h.errors[1]).toEqual({ conv: 'c1', error: expect.objectContaining({ code: 'not_member' }) });
  });

  it('retries when the store does not show the changes yet (a lagging read) instead of spinning', async () => {
    const h = harness();
    h.feed.track(C1, 0);
    h.feed.track(C1, 2); // announced, not stored yet
    await vi.waitFor(() => expect(h.errors.length).toBeGreaterThan(0));
    expect(h.errors[0]?.error.code).toBe('unavailable');
    h.change(1);
    h.change(2);
    await vi.waitFor(() => expect(h.appliedSeqs()).toEqual([1, 2]));
  });

  it('discards a fetch in flight when closed or the conversation is forgotten', async () => {
    const h = harness();
    h.feed.track(C1, 0);
    h.change(1);
    const release = h.hold();
    h.feed.track(C1, 1);
    await vi.waitFor(() => expect(h.fetches).toHaveLength(1));
    h.feed.close();
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(h.applied).toEqual([]);
    h.feed.reopen();
    h.feed.forget(C1);
    expect(h.feed.conversations()).toEqual([]);
  });
});
