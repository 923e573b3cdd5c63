import { asConversationId, asMessageId, asUserId, type Message } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { type ChangeEntry, ChangeSequencer } from './change-sequencer.js';

/** Message `seq` of c1 in the state it took at change `changeSeq`. */
const state = (seq: number, changeSeq: number): Message => ({
  conv: asConversationId('c1'),
  seq,
  id: asMessageId(`m${seq}`),
  from: asUserId('u1'),
  body: `body ${seq} @${changeSeq}`,
  ts: 1_000 + seq,
  editedAt: 2_000 + changeSeq,
  changeSeq,
});
const change = (changeSeq: number, seq = 1): ChangeEntry => ({ changeSeq, message: state(seq, changeSeq) });
const seqsOf = (entries: ChangeEntry[]) => entries.map((e) => e.changeSeq);

describe('ChangeSequencer', () => {
  it('applies applied+1 at once and drops duplicates and older ones', () => {
    const s = new ChangeSequencer(3);
    expect(seqsOf(s.offer(change(4)))).toEqual([4]);
    expect(s.offer(change(4))).toEqual([]);
    expect(s.offer(change(2))).toEqual([]);
    expect(s.applied).toBe(4);
    expect(s.behind).toBe(false);
  });

  it('holds a change that jumps ahead until the gap closes, then applies in order', () => {
    const s = new ChangeSequencer(0);
    expect(s.offer(change(3))).toEqual([]);
    expect(s.offer(change(2))).toEqual([]);
    expect(s.behind).toBe(true);
    expect(s.heldCount).toBe(2);
    expect(s.offer(change(3))).toEqual([]); // a duplicate of a held one
    expect(seqsOf(s.offer(change(1)))).toEqual([1, 2, 3]);
    expect(s.heldCount).toBe(0);
    expect(s.behind).toBe(false);
  });

  it('takes a page as authoritative: jumps over superseded changeSeqs and drops held ones it covers', () => {
    const s = new ChangeSequencer(4);
    s.offer(change(7, 2)); // held: message 2 at 7
    s.offer(change(9, 3)); // held: message 3 at 9
    // Changes 5 and 6 were of message 1, superseded by its change 8: the page shows it once.
    const page = [state(2, 7), state(1, 8)];
    expect(seqsOf(s.offerPage(4, page, 9))).toEqual([7, 8, 9]);
    expect(s.applied).toBe(9);
    expect(s.heldCount).toBe(0);
    expect(s.behind).toBe(false);
  });

  it('sorts a page and drops what is already applied (a live copy won the race)', () => {
    const s = new ChangeSequencer(4);
    s.offer(change(5));
    s.offer(change(6, 2));
    expect(seqsOf(s.offerPage(4, [state(3, 7), state(1, 5), state(2, 6)], 7))).toEqual([7]);
  });

  it('stays behind when a page does not reach the counter it reports (a lagging read)', () => {
    const s = new ChangeSequencer(2);
    expect(s.offerPage(2, [], 4)).toEqual([]);
    expect(s.behind).toBe(true);
    expect(s.latestKnown).toBe(4);
  });

  it('ignores a page asked from beyond what is applied', () => {
    const s = new ChangeSequencer(2);
    expect(s.offerPage(3, [state(1, 4)], 4)).toEqual([]);
    expect(s.applied).toBe(2);
  });

  it('holds everything while unseeded; the baseline drops what it covers and applies what follows', () => {
    const s = new ChangeSequencer();
    expect(s.seeded).toBe(false);
    expect(s.offer(change(5))).toEqual([]);
    expect(s.offer(change(6))).toEqual([]);
    expect(s.offer(change(8))).toEqual([]);
    expect(s.behind).toBe(false);
    expect(seqsOf(s.seed(5))).toEqual([6]);
    expect(s.applied).toBe(6);
    expect(s.behind).toBe(true); // 8 is held, 7 missing
    expect(s.seed(0)).toEqual([]); // seeding twice does nothing
  });

  it('records the counter from ready or an ack', () => {
    const s = new ChangeSequencer(1);
    s.noteLatest(3);
    expect(s.behind).toBe(true);
    s.noteLatest(2);
    expect(s.latestKnown).toBe(3);
  });

  it('bounds what it holds; far-ahead changes are left to the fetch', () => {
    const s = new ChangeSequencer(0, { maxHeld: 2 });
    s.offer(change(3));
    s.offer(change(4));
    s.offer(change(5));
    expect(s.heldCount).toBe(2);
    expect(s.latestKnown).toBe(5);
    expect(seqsOf(s.offerPage(0, [state(1, 5)], 5))).toEqual([5]);
    expect(s.heldCount).toBe(0);
  });

  it('refuses a negative baseline', () => {
    expect(() => new ChangeSequencer(-1)).toThrow(RangeError);
  });
});
