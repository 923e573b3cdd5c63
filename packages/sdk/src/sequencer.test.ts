import { asConversationId, asMessageId, asUserId, type Message } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { Sequencer } from './sequencer.js';

const msg = (seq: number, conv = 'c1'): Message => ({
  conv: asConversationId(conv),
  seq,
  id: asMessageId(`m${seq}`),
  from: asUserId('u1'),
  body: `body ${seq}`,
  ts: 1_700_000_000_000 + seq,
});
const seqs = (messages: Message[]) => messages.map((m) => m.seq);

describe('Sequencer', () => {
  it('delivers the next seq at once', () => {
    const s = new Sequencer(0);
    expect(seqs(s.offer(msg(1)).delivered)).toEqual([1]);
    expect(seqs(s.offer(msg(2)).delivered)).toEqual([2]);
    expect(s.lastSeq).toBe(2);
    expect(s.behind).toBe(false);
  });

  it('drops a seq at or below lastSeq as a duplicate', () => {
    const s = new Sequencer(5);
    expect(s.offer(msg(5))).toEqual({ delivered: [], duplicate: true });
    expect(s.offer(msg(3))).toEqual({ delivered: [], duplicate: true });
    expect(s.lastSeq).toBe(5);
  });

  it('holds a message after a jump, reports the gap, and releases everything in order once it fills', () => {
    const s = new Sequencer(1);
    expect(s.offer(msg(4))).toEqual({ delivered: [], duplicate: false });
    expect(s.offer(msg(3)).delivered).toEqual([]);
    expect(s.behind).toBe(true);
    expect(s.latestKnown).toBe(4);
    expect(s.bufferedCount).toBe(2);
    expect(seqs(s.offer(msg(2)).delivered)).toEqual([2, 3, 4]);
    expect(s.behind).toBe(false);
    expect(s.bufferedCount).toBe(0);
  });

  it('drops a second copy of a held message', () => {
    const s = new Sequencer(0);
    s.offer(msg(3));
    expect(s.offer(msg(3))).toEqual({ delivered: [], duplicate: true });
    expect(s.bufferedCount).toBe(1);
  });

  it('merges a history page that overlaps held messages: each seq once, in order', () => {
    const s = new Sequencer(10);
    s.offer(msg(13));
    s.offer(msg(15));
    const page = [11, 12, 13, 14, 15, 16].map((n) => msg(n));
    expect(seqs(s.offerAll(page))).toEqual([11, 12, 13, 14, 15, 16]);
    expect(seqs(s.offerAll(page))).toEqual([]);
    expect(s.lastSeq).toBe(16);
    expect(s.bufferedCount).toBe(0);
  });

  it('stays behind after a partial page and catches up with the next one', () => {
    const s = new Sequencer(0);
    s.offer(msg(6));
    expect(seqs(s.offerAll([msg(1), msg(2), msg(3)]))).toEqual([1, 2, 3]);
    expect(s.behind).toBe(true);
    expect(seqs(s.offerAll([msg(4), msg(5)]))).toEqual([4, 5, 6]);
    expect(s.behind).toBe(false);
  });

  it('accepts a page in any order', () => {
    const s = new Sequencer(0);
    expect(seqs(s.offerAll([msg(3), msg(1), msg(2)]))).toEqual([1, 2, 3]);
  });

  it('becomes behind when the server announces a later seq, without any message', () => {
    const s = new Sequencer(4);
    s.noteLatest(9);
    expect(s.behind).toBe(true);
    s.noteLatest(2);
    expect(s.latestKnown).toBe(9);
    expect(seqs(s.offerAll([5, 6, 7, 8, 9].map((n) => msg(n))))).toEqual([5, 6, 7, 8, 9]);
    expect(s.behind).toBe(false);
  });

  it('holds everything while unseeded, then seeds: drops what is at or below the seed, delivers the rest in order', () => {
    const s = new Sequencer();
    expect(s.seeded).toBe(false);
    s.offer(msg(7));
    s.offer(msg(5));
    s.offer(msg(6));
    expect(s.behind).toBe(false);
    expect(s.lowestBuffered).toBe(5);
    expect(seqs(s.seed(5))).toEqual([6, 7]);
    expect(s.seeded).toBe(true);
    expect(s.lastSeq).toBe(7);
    expect(s.seed(0)).toEqual([]);
    expect(s.lastSeq).toBe(7);
  });

  it('seeding below the held messages leaves a gap to fetch', () => {
    const s = new Sequencer();
    s.offer(msg(4));
    expect(s.seed(0)).toEqual([]);
    expect(s.behind).toBe(true);
    expect(seqs(s.offerAll([msg(1), msg(2), msg(3)]))).toEqual([1, 2, 3, 4]);
  });

  it('does not hold messages beyond maxBuffered but still knows they exist', () => {
    const s = new Sequencer(0, { maxBuffered: 3 });
    s.offer(msg(2));
    s.offer(msg(3));
    s.offer(msg(9));
    expect(s.bufferedCount).toBe(2);
    expect(s.latestKnown).toBe(9);
    expect(seqs(s.offer(msg(1)).delivered)).toEqual([1, 2, 3]);
    expect(s.behind).toBe(true);
    expect(seqs(s.offerAll([4, 5, 6, 7, 8, 9].map((n) => msg(n))))).toEqual([4, 5, 6, 7, 8, 9]);
  });

  it('rejects a negative or fractional seed', () => {
    expect(() => new Sequencer(-1)).toThrow(RangeError);
    expect(() => new Sequencer().seed(1.5)).toThrow(RangeError);
  });
});
