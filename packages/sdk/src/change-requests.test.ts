import {
  asConversationId,
  asMessageId,
  asUserId,
  ChatError,
  type ClientFrame,
  type Message,
} from '@relay-chat/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ChangeRequest, ChangeRequests, type ChangeRequestsOptions } from './change-requests.js';

const C1 = asConversationId('c1');
const state = (seq: number, changeSeq?: number, extra: Partial<Message> = {}): Message => ({
  conv: C1,
  seq,
  id: asMessageId(`m${seq}`),
  from: asUserId('me'),
  body: changeSeq === undefined ? 'hi' : `hi (${changeSeq})`,
  ts: seq,
  ...(changeSeq === undefined ? {} : { changeSeq, editedAt: changeSeq }),
  ...extra,
});

function harness(options: Partial<ChangeRequestsOptions> & { open?: boolean } = {}) {
  const frames: ClientFrame[] = [];
  const restCalls: ChangeRequest[] = [];
  const fetchCalls: number[] = [];
  let open = options.open ?? true;
  let restAnswer: () => Promise<Message> = async () => state(1, 9);
  let fetchAnswer: () => Promise<Message> = async () => state(1, 7);
  const requests = new ChangeRequests({
    send: (frame) => {
      if (!open) return false;
      frames.push(frame);
      return true;
    },
    rest: (request) => {
      restCalls.push(request);
      return restAnswer();
    },
    fetchMessage: (_conv, seq) => {
      fetchCalls.push(seq);
      return fetchAnswer();
    },
    ackTimeoutMs: 1_000,
    stateWaitMs: 500,
    ...options,
  });
  return {
    requests,
    frames,
    restCalls,
    fetchCalls,
    lastRef: () => (frames.at(-1) as { ref: string }).ref,
    setOpen: (value: boolean) => {
      open = value;
    },
    answerRest: (answer: () => Promise<Message>) => {
      restAnswer = answer;
    },
    answerFetch: (answer: () => Promise<Message>) => {
      fetchAnswer = answer;
    },
  };
}

describe('ChangeRequests', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes edit, delete and react frames with a ref (mentions only when given)', () => {
    const h = harness();
    const ignore = () => {};
    h.requests.run({ kind: 'edit', conv: C1, seq: 1, body: 'new', mentions: [asUserId('u2')] }).catch(ignore);
    h.requests.run({ kind: 'edit', conv: C1, seq: 1, body: 'newer' }).catch(ignore);
    h.requests.run({ kind: 'delete', conv: C1, seq: 2 }).catch(ignore);
    h.requests.run({ kind: 'react', conv: C1, seq: 3, emoji: '👍', on: false }).catch(ignore);
    expect(h.frames).toEqual([
      { type: 'edit', conv: 'c1', seq: 1, body: 'new', mentions: ['u2'], ref: 'chg-1' },
      { type: 'edit', conv: 'c1', seq: 1, body: 'newer', ref: 'chg-2' },
      { type: 'delete', conv: 'c1', seq: 2, ref: 'chg-3' },
      { type: 'react', conv: 'c1', seq: 3, emoji: '👍', on: false, ref: 'chg-4' },
    ]);
    h.requests.stop();
  });

  it('resolves with the state of the change frame the ack names, whether it came before or after the ack', async () => {
    const h = harness();
    const before = h.requests.run({ kind: 'edit', conv: C1, seq: 1, body: 'a' });
    h.requests.onState(state(1, 4));
    expect(h.requests.onAck({ type: 'change_ack', ref: h.lastRef(), conv: C1, seq: 1, changeSeq: 4 })).toBe(
      true,
    );
    await expect(before).resolves.toEqual(state(1, 4));

    const after = h.requests.run({ kind: 'react', conv: C1, seq: 1, emoji: '🎉', on: true });
    h.requests.onAck({ type: 'change_ack', ref: h.lastRef(), conv: C1, seq: 1, changeSeq: 6 });
    h.requests.onState(state(1, 5)); // an older state of the same message: not the answer
    h.requests.onState(state(2, 6)); // another message
    h.requests.onState(state(1, 6));
    await expect(after).resolves.toEqual(state(1, 6));
    expect(h.restCalls).toEqual([]);
    expect(h.fetchCalls).toEqual([]);
  });

  it('takes a newer state of the message as the answer (a catch-up skipped the exact change)', async () => {
    const h = harness();
    const done = h.requests.run({ kind: 'delete', conv: C1, seq: 1 });
    h.requests.onAck({ type: 'change_ack', ref: h.lastRef(), conv: C1, seq: 1, changeSeq: 4 });
    h.requests.onState(state(1, 8, { deleted: true, body: '' }));
    await expect(done).resolves.toMatchObject({ changeSeq: 8, deleted: true });
  });

  it('asks REST for the state when the ack says nothing changed, or the change frame does not come in time', async () => {
    const h = harness();
    const repeat = h.requests.run({ kind: 'react', conv: C1, seq: 1, emoji: '👍', on: true });
    h.requests.onAck({ type: 'change_ack', ref: h.lastRef(), conv: C1, seq: 1 });
    await expect(repeat).resolves.toEqual(state(1, 7));

    const slow = h.requests.run({ kind: 'edit', conv: C1, seq: 1, body: 'b' });
    h.requests.onAck({ type: 'change_ack', ref: h.lastRef(), conv: C1, seq: 1, changeSeq: 7 });
    await vi.advanceTimersByTimeAsync(499);
    expect(h.fetchCalls).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    await expect(slow).resolves.toEqual(state(1, 7));
    expect(h.fetchCalls).toEqual([1, 1]);
    expect(h.restCalls).toEqual([]);
  });

  it('goes over REST when not connected, when the ack does not come in time, and when frames were lost', async () => {
    const h = harness({ open: false });
    await expect(h.requests.run({ kind: 'delete', conv: C1, seq: 1 })).resolves.toEqual(state(1, 9));
    expect(h.restCalls).toEqual([{ kind: 'delete', conv: 'c1', seq: 1 }]);

    h.setOpen(true);
    const timedOut = h.requests.run({ kind: 'delete', conv: C1, seq: 2 });
    await vi.advanceTimersByTimeAsync(999);
    expect(h.restCalls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(timedOut).resolves.toEqual(state(1, 9));
    expect(h.restCalls).toHaveLength(2);

    const lost = h.requests.run({ kind: 'delete', conv: C1, seq: 3 });
    const lostRef = h.lastRef();
    h.requests.onFramesLost();
    await expect(lost).resolves.toEqual(state(1, 9));
    expect(h.restCalls).toHaveLength(3);
    // Its late ack is ours but settles nothing more.
    expect(h.requests.onAck({ type: 'change_ack', ref: lostRef, conv: C1, seq: 3, changeSeq: 2 })).toBe(true);
    expect(h.requests.size).toBe(0);
  });

  it("rejects with the server's refusal, and with REST's error", async () => {
    const h = harness();
    const refused = h.requests.run({ kind: 'edit', conv: C1, seq: 1, body: 'x' });
    expect(h.requests.onError(h.lastRef(), new ChatError('forbidden', 'not yours'))).toBe(true);
    await expect(refused).rejects.toMatchObject({ code: 'forbidden' });
    expect(h.requests.onError('someone-else', new ChatError('forbidden', 'x'))).toBe(false);

    h.setOpen(false);
    h.answerRest(async () => {
      throw new ChatError('conflict', 'deleted');
    });
    await expect(
      h.requests.run({ kind: 'react', conv: C1, seq: 1, emoji: '👍', on: true }),
    ).rejects.toMatchObject({
      code: 'conflict',
    });
  });

  it('refuses locally what the server would refuse, without writing anything', async () => {
    const h = harness();
    await expect(
      h.requests.run({ kind: 'react', conv: C1, seq: 1, emoji: 'ok', on: true }),
    ).rejects.toMatchObject({
      code: 'validation_failed',
      fields: [{ field: '/emoji', message: expect.any(String) }],
    });
    await expect(h.requests.run({ kind: 'edit', conv: C1, seq: 1, body: '' })).rejects.toMatchObject({
      code: 'validation_failed',
    });
    await expect(h.requests.run({ kind: 'delete', conv: C1, seq: 0 })).rejects.toMatchObject({
      code: 'validation_failed',
    });
    expect(h.frames).toEqual([]);
  });

  it('stop() rejects what is pending', async () => {
    const h = harness();
    const pending = h.requests.run({ kind: 'delete', conv: C1, seq: 1 });
    h.requests.stop();
    await expect(pending).rejects.toMatchObject({ code: 'unavailable' });
  });
});
