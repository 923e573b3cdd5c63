import { asConversationId, asMessageId, asUserId, type Message } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { addNewer, addOlderPage, EMPTY_HISTORY, gapsIn, mergeBySeq } from './history.js';

const msg = (seq: number, body = `m${seq}`): Message => ({
  conv: asConversationId('c1'),
  seq,
  id: asMessageId(`id${seq}`),
  from: asUserId('u1'),
  body,
  ts: 1_700_000_000_000 + seq,
});
const seqs = (messages: Message[]) => messages.map((m) => m.seq);

describe('mergeBySeq', () => {
  it('appends a newer live message', () => {
    expect(seqs(mergeBySeq([msg(1), msg(2)], [msg(3)]))).toEqual([1, 2, 3]);
  });

  it('drops duplicates and keeps the copy already shown', () => {
    const merged = mergeBySeq([msg(1), msg(2, 'original')], [msg(2, 'again'), msg(3)]);
    expect(seqs(merged)).toEqual([1, 2, 3]);
    expect(merged[1]?.body).toBe('original');
  });

  it('sorts pages that arrive out of order', () => {
    expect(seqs(mergeBySeq([msg(5), msg(6)], [msg(3), msg(1), msg(2), msg(4)]))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('returns the same array when nothing new arrives, so React can skip a render', () => {
    const existing = [msg(1), msg(2)];
    expect(mergeBySeq(existing, [msg(2)])).toBe(existing);
    expect(mergeBySeq(existing, [])).toBe(existing);
  });

  it('is idempotent', () => {
    const once = mergeBySeq([msg(2)], [msg(1), msg(3)]);
    expect(mergeBySeq(once, [msg(1), msg(3)])).toBe(once);
  });
});

describe('history window', () => {
  it('ends the history when a page reaches seq 1 or comes back short', () => {
    const full = addOlderPage(EMPTY_HISTORY, [msg(51), msg(52)], 2);
    expect(full.hasOlder).toBe(true);
    expect(addOlderPage(full, [msg(50)], 2).hasOlder).toBe(false);
    expect(addOlderPage(EMPTY_HISTORY, [msg(1), msg(2)], 2).hasOlder).toBe(false);
    expect(addOlderPage(EMPTY_HISTORY, [], 50)).toEqual({ messages: [], hasOlder: false });
  });

  it('keeps hasOlder when live messages arrive', () => {
    const window = addOlderPage(EMPTY_HISTORY, [msg(10), msg(11)], 2);
    const next = addNewer(window, [msg(12)]);
    expect(next.hasOlder).toBe(true);
    expect(seqs(next.messages)).toEqual([10, 11, 12]);
    expect(addNewer(next, [msg(12)])).toBe(next);
  });
});

describe('gapsIn', () => {
  it('lists the missing ranges between loaded messages', () => {
    expect(gapsIn([msg(1), msg(2), msg(5), msg(6), msg(9)])).toEqual([
      [3, 4],
      [7, 8],
    ]);
    expect(gapsIn([msg(1), msg(2)])).toEqual([]);
  });
});
