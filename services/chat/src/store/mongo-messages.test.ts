import { asConversationId, asMessageId, asUserId, ChatError, LIMITS } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import {
  applyReaction,
  aroundRange,
  checkEmoji,
  checkReplyTo,
  type MessageDoc,
  mentionSummary,
  normalizeMentions,
  type ReactionDoc,
  sameMentions,
  summarizeReactions,
  threadRootOf,
  toMessage,
  toStoredMessage,
} from './mongo-messages.js';

/**
 * The pure rules of the MongoDB store's messages that change. The store itself needs a
 * MongoDB replica set (mongo.test.ts, skipped without MONGO_URL); these run everywhere.
 */

const conv = asConversationId('c1');
const alice = asUserId('alice');
const bob = asUserId('bob');
const carol = asUserId('carol');

function doc(extra: Partial<MessageDoc> = {}): MessageDoc {
  return {
    _id: asMessageId('m1'),
    conv,
    seq: 3,
    sender: alice,
    clientMsgId: 'k1',
    body: 'hello',
    ts: 1000,
    ...extra,
  };
}

function expectChatError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChatError);
    expect((err as ChatError).code).toBe(code);
    return;
  }
  throw new Error(`expected ChatError ${code}`);
}

describe('toStoredMessage', () => {
  it('gives a plain message (one written before schema 5) no optional field', () => {
    const message = toStoredMessage(doc());
    expect(message).toStrictEqual({
      conv,
      seq: 3,
      id: 'm1',
      from: alice,
      body: 'hello',
      ts: 1000,
      clientMsgId: 'k1',
    });
    expect(Object.keys(message)).toEqual(['conv', 'seq', 'id', 'from', 'body', 'ts', 'clientMsgId']);
  });

  it('leaves out empty, zero and absent values', () => {
    const message = toStoredMessage(doc({ mentions: [], reactions: [], replyCount: 0, changeSeq: 0 }));
    expect(message).toStrictEqual(toStoredMessage(doc()));
  });

  it('carries every field that says something', () => {
    const message = toStoredMessage(
      doc({
        replyTo: 2,
        threadRoot: 1,
        mentions: [bob, carol],
        editedAt: 2000,
        reactions: [
          { emoji: '👍', user: bob },
          { emoji: '🎉', user: carol },
          { emoji: '👍', user: carol },
        ],
        replyCount: 4,
        lastReplyAt: 3000,
        changeSeq: 9,
      }),
    );
    expect(message).toStrictEqual({
      conv,
      seq: 3,
      id: 'm1',
      from: alice,
      body: 'hello',
      ts: 1000,
      clientMsgId: 'k1',
      replyTo: 2,
      threadRoot: 1,
      mentions: [bob, carol],
      editedAt: 2000,
      reactions: [
        { emoji: '👍', count: 2, users: [bob, carol] },
        { emoji: '🎉', count: 1, users: [carol] },
      ],
      replyCount: 4,
      lastReplyAt: 3000,
      changeSeq: 9,
    });
  });

  it('shows a tombstone with what it keeps only: seq, reply, thread counts, changeSeq', () => {
    const message = toStoredMessage(
      doc({
        body: '',
        deleted: true,
        replyTo: 2,
        threadRoot: 1,
        // Left over in a document: a tombstone never shows them.
        mentions: [bob],
        editedAt: 2000,
        reactions: [{ emoji: '👍', user: bob }],
        replyCount: 1,
        lastReplyAt: 3000,
        changeSeq: 10,
      }),
    );
    expect(message).toStrictEqual({
      conv,
      seq: 3,
      id: 'm1',
      from: alice,
      body: '',
      ts: 1000,
      clientMsgId: 'k1',
      replyTo: 2,
      threadRoot: 1,
      deleted: true,
      replyCount: 1,
      lastReplyAt: 3000,
      changeSeq: 10,
    });
  });

  it('does not share the stored mention list', () => {
    const stored = doc({ mentions: [bob] });
    const message = toStoredMessage(stored);
    message.mentions!.push(carol);
    expect(stored.mentions).toEqual([bob]);
  });

  it('gives previews without the client-made id', () => {
    const message = toMessage(doc({ editedAt: 5 }));
    expect(message).not.toHaveProperty('clientMsgId');
    expect(message.editedAt).toBe(5);
  });
});

describe('summarizeReactions', () => {
  it('orders emoji by their earliest current reaction and users by reaction order', () => {
    const reactions: ReactionDoc[] = [
      { emoji: 'A', user: alice },
      { emoji: 'B', user: bob },
      { emoji: 'A', user: carol },
      { emoji: 'C', user: alice },
      { emoji: 'B', user: alice },
    ];
    expect(summarizeReactions(reactions)).toEqual([
      { emoji: 'A', count: 2, users: [alice, carol] },
      { emoji: 'B', count: 2, users: [bob, alice] },
      { emoji: 'C', count: 1, users: [alice] },
    ]);
  });

  it('moves an emoji whose first reaction was cleared behind one used earlier than its rest', () => {
    // alice 👍, bob 🎉, carol 👍, then alice clears 👍: 👍's earliest current reaction is carol's.
    let reactions: ReactionDoc[] = [];
    reactions = applyReaction(reactions, alice, '👍', true, 20)!;
    reactions = applyReaction(reactions, bob, '🎉', true, 20)!;
    reactions = applyReaction(reactions, carol, '👍', true, 20)!;
    reactions = applyReaction(reactions, alice, '👍', false, 20)!;
    expect(summarizeReactions(reactions)).toEqual([
      { emoji: '🎉', count: 1, users: [bob] },
      { emoji: '👍', count: 1, users: [carol] },
    ]);
  });

  it('lists at most LIMITS.reactionUsersShown users with the exact count', () => {
    const many = Array.from({ length: LIMITS.reactionUsersShown + 5 }, (_, i) => ({
      emoji: '👍',
      user: asUserId(`u${i}`),
    }));
    const [summary] = summarizeReactions(many);
    expect(summary!.count).toBe(LIMITS.reactionUsersShown + 5);
    expect(summary!.users).toHaveLength(LIMITS.reactionUsersShown);
    expect(summary!.users[0]).toBe('u0');
  });

  it('is empty for none', () => {
    expect(summarizeReactions([])).toEqual([]);
  });
});

describe('applyReaction', () => {
  const start: ReactionDoc[] = [{ emoji: '👍', user: bob }];

  it('adds a reaction at the end', () => {
    expect(applyReaction(start, alice, '👍', true, 20)).toEqual([
      { emoji: '👍', user: bob },
      { emoji: '👍', user: alice },
    ]);
  });

  it('is a no-op (undefined) to set a reaction twice or clear one not set', () => {
    expect(applyReaction(start, bob, '👍', true, 20)).toBeUndefined();
    expect(applyReaction(start, alice, '👍', false, 20)).toBeUndefined();
    expect(applyReaction(start, bob, '🎉', false, 20)).toBeUndefined();
  });

  it('clears only that user and emoji, without changing its input', () => {
    const both: ReactionDoc[] = [
      { emoji: '👍', user: bob },
      { emoji: '🎉', user: bob },
      { emoji: '👍', user: alice },
    ];
    expect(applyReaction(both, bob, '👍', false, 20)).toEqual([
      { emoji: '🎉', user: bob },
      { emoji: '👍', user: alice },
    ]);
    expect(both).toHaveLength(3);
  });

  it('refuses a new distinct emoji past the limit (conflict), but not another user of one present', () => {
    const full: ReactionDoc[] = [
      { emoji: '👍', user: bob },
      { emoji: '🎉', user: bob },
    ];
    expectChatError(() => applyReaction(full, alice, '😀', true, 2), 'conflict');
    expect(applyReaction(full, alice, '🎉', true, 2)).toHaveLength(3);
    // Clearing is always allowed.
    expect(applyReaction(full, bob, '🎉', false, 2)).toHaveLength(1);
  });
});

describe('mentions', () => {
  it('keeps each user once, in the order given, without the sender', () => {
    expect(normalizeMentions(alice, [bob, alice, carol, bob])).toEqual([bob, carol]);
    expect(normalizeMentions(alice, undefined)).toEqual([]);
    expect(normalizeMentions(alice, [alice])).toEqual([]);
  });

  it('refuses a user id a store cannot keep', () => {
    expectChatError(() => normalizeMentions(alice, [asUserId('x\u0000y')]), 'validation_failed');
  });

  it('compares lists by users and order', () => {
    expect(sameMentions([], [])).toBe(true);
    expect(sameMentions([bob, carol], [bob, carol])).toBe(true);
    expect(sameMentions([bob, carol], [carol, bob])).toBe(false);
    expect(sameMentions([bob], [bob, carol])).toBe(false);
  });

  it('summarises unread mentions: exact count, newest seqs ascending, at most maxMentionSeqs', () => {
    expect(mentionSummary(3, [9, 5, 2])).toEqual({ unreadMentions: 3, mentionSeqs: [2, 5, 9] });
    const newest = Array.from({ length: LIMITS.maxMentionSeqs + 10 }, (_, i) => 1000 - i);
    const summary = mentionSummary(500, newest);
    expect(summary.unreadMentions).toBe(500);
    expect(summary.mentionSeqs).toHaveLength(LIMITS.maxMentionSeqs);
    expect(summary.mentionSeqs.at(-1)).toBe(1000);
    expect(summary.mentionSeqs[0]).toBe(1000 - LIMITS.maxMentionSeqs + 1);
  });
});

describe('checks', () => {
  it('accepts one emoji and refuses anything else on /emoji', () => {
    expect(() => checkEmoji('👍')).not.toThrow();
    expect(() => checkEmoji('👨‍👩‍👧')).not.toThrow();
    for (const bad of ['', 'a', '👍👍', ':+1:']) {
      try {
        checkEmoji(bad);
        throw new Error(`accepted ${bad}`);
      } catch (err) {
        expect((err as ChatError).code).toBe('validation_failed');
        expect((err as ChatError).fields).toEqual([expect.objectContaining({ field: '/emoji' })]);
      }
    }
  });

  it('accepts replyTo absent or ≥ 1', () => {
    expect(() => checkReplyTo(undefined)).not.toThrow();
    expect(() => checkReplyTo(1)).not.toThrow();
    for (const bad of [0, -1, 1.5, Number.NaN]) expectChatError(() => checkReplyTo(bad), 'validation_failed');
  });

  it('finds a reply’s thread root through its parent', () => {
    expect(threadRootOf({ seq: 4 })).toBe(4);
    expect(threadRootOf({ seq: 7, threadRoot: 4 })).toBe(4);
  });
});

describe('aroundRange', () => {
  const page = (seq: number, limit: number, lastSeq: number) => {
    const range = aroundRange(seq, limit, lastSeq);
    if (!range) return [];
    return Array.from({ length: range.to - range.from + 1 }, (_, i) => range.from + i);
  };

  it('puts seq in the middle: half before it, the rest from it on', () => {
    expect(page(50, 10, 100)).toEqual([45, 46, 47, 48, 49, 50, 51, 52, 53, 54]);
    expect(page(50, 5, 100)).toEqual([48, 49, 50, 51, 52]);
    expect(page(50, 1, 100)).toEqual([50]);
  });

  it('shifts the page when one side has fewer', () => {
    expect(page(2, 6, 100)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(page(99, 6, 100)).toEqual([95, 96, 97, 98, 99, 100]);
    expect(page(3, 10, 4)).toEqual([1, 2, 3, 4]);
  });

  it('takes the messages before a seq past the end, and the first ones for seq 0', () => {
    expect(page(150, 4, 100)).toEqual([97, 98, 99, 100]);
    expect(page(0, 3, 100)).toEqual([1, 2, 3]);
  });

  it('is empty for no messages or limit 0', () => {
    expect(aroundRange(1, 10, 0)).toBeUndefined();
    expect(aroundRange(5, 0, 10)).toBeUndefined();
  });

  it('matches the two-query cut (half before, rest after, the other side fills) for every case', () => {
    for (let lastSeq = 0; lastSeq <= 7; lastSeq++) {
      for (let seq = 0; seq <= 9; seq++) {
        for (let limit = 0; limit <= 9; limit++) {
          const before = Array.from(
            { length: Math.min(seq - 1, lastSeq) },
            (_, i) => Math.min(seq - 1, lastSeq) - i,
          );
          const from = Array.from(
            { length: Math.max(0, lastSeq - Math.max(seq, 1) + 1) },
            (_, i) => Math.max(seq, 1) + i,
          );
          let nb = Math.min(before.length, Math.floor(limit / 2));
          const na = Math.min(from.length, limit - nb);
          nb = Math.min(before.length, limit - na);
          const expected = [...before.slice(0, nb).reverse(), ...from.slice(0, na)];
          expect(page(seq, limit, lastSeq), `seq ${seq} limit ${limit} lastSeq ${lastSeq}`).toEqual(expected);
        }
      }
    }
  });
});
