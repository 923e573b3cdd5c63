import { asConversationId, asMessageId, asUserId, LIMITS, type Message } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { MentionTracker } from './mentions.js';

const ME = asUserId('me');
const OTHER = asUserId('other');
const msg = (seq: number, extra: Partial<Message> = {}): Message => ({
  conv: asConversationId('c1'),
  seq,
  id: asMessageId(`m${seq}`),
  from: OTHER,
  body: 'hi @me',
  ts: seq,
  mentions: [ME],
  ...extra,
});

describe('MentionTracker', () => {
  it('counts a message from someone else mentioning me above the read marker, once', () => {
    const t = MentionTracker.from(0, [], 2);
    expect(t.apply(msg(3), ME, 2)).toBe(true);
    expect(t.apply(msg(3), ME, 2)).toBe(false);
    expect(t.count).toBe(1);
    expect(t.seqs).toEqual([3]);
  });

  it('does not count my own, read, deleted or not-mentioning messages', () => {
    const t = MentionTracker.from(0, [], 2);
    t.apply(msg(2), ME, 2);
    t.apply(msg(3, { from: ME }), ME, 2);
    t.apply(msg(4, { deleted: true, body: '', mentions: undefined }), ME, 2);
    t.apply(msg(5, { mentions: [OTHER] }), ME, 2);
    expect(t.count).toBe(0);
  });

  it('a change that deletes the message or edits the mention away removes it; one that adds it counts', () => {
    const t = MentionTracker.from(2, [3, 4], 0);
    expect(t.apply(msg(3, { deleted: true, body: '', mentions: undefined, changeSeq: 1 }), ME, 0)).toBe(true);
    expect(t.apply(msg(4, { mentions: undefined, editedAt: 9, changeSeq: 2 }), ME, 0)).toBe(true);
    expect(t.count).toBe(0);
    expect(t.apply(msg(5, { editedAt: 9, changeSeq: 3 }), ME, 0)).toBe(true);
    expect(t.seqs).toEqual([5]);
  });

  it('drops what the read marker passes', () => {
    const t = MentionTracker.from(3, [3, 5, 8], 0);
    expect(t.read(5)).toBe(true);
    expect(t.seqs).toEqual([8]);
    expect(t.read(5)).toBe(false);
    expect(t.count).toBe(1);
  });

  it('keeps the unlisted ones the server counted until the read marker passes the lowest listed', () => {
    const t = MentionTracker.from(5, [10, 12], 0);
    expect(t.count).toBe(5);
    // A message below the listed ones may be among the unlisted: not counted twice.
    t.apply(msg(4), ME, 0);
    expect(t.count).toBe(5);
    t.read(8);
    expect(t.count).toBe(5);
    t.read(10);
    expect(t.count).toBe(1);
    expect(t.seqs).toEqual([12]);
  });

  it('lists the newest LIMITS.maxMentionSeqs, ascending; the count stays exact', () => {
    const t = MentionTracker.from();
    for (let seq = 1; seq <= LIMITS.maxMentionSeqs + 5; seq++) t.apply(msg(seq), ME, 0);
    expect(t.count).toBe(LIMITS.maxMentionSeqs + 5);
    expect(t.seqs).toHaveLength(LIMITS.maxMentionSeqs);
    expect(t.seqs[0]).toBe(6);
  });

  it('takes only seqs above the read marker from a snapshot', () => {
    const t = MentionTracker.from(2, [3, 4], 3);
    expect(t.seqs).toEqual([4]);
    expect(t.count).toBe(1);
  });
});
