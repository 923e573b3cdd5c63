import { asConversationId, asMessageId, asUserId } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import type { AppendInput, StoredMessage } from './message-store.js';
import {
  judgeAppend,
  memberKey,
  mentionLookups,
  newMessageDoc,
  parentLookups,
  refKey,
  repliesPerConversation,
  rootChanges,
} from './mongo-append.js';
import type { MessageDoc } from './mongo-messages.js';

/**
 * The reply and mention rules of the MongoDB store's append, without a database (the
 * store's own suite, mongo.test.ts, needs a MongoDB replica set and MONGO_URL).
 */

const c1 = asConversationId('c1');
const c2 = asConversationId('c2');
const alice = asUserId('alice');
const bob = asUserId('bob');
const carol = asUserId('carol');

function input(extra: Partial<AppendInput> = {}): AppendInput {
  return { conv: c1, sender: alice, clientMsgId: 'k', body: 'hi', ts: 1000, ...extra };
}

describe('parentLookups', () => {
  it('reads each parent stored before the batch once, and none past the last seq', () => {
    const lastSeq = new Map([
      [c1, 5],
      [c2, 2],
    ]);
    const refs = parentLookups(
      [
        input({ replyTo: 3 }),
        input({ replyTo: 3, clientMsgId: 'k2' }),
        input({ replyTo: 6 }), // the first message of this batch: not stored before it
        input({ replyTo: 5 }),
        input({ conv: c2, replyTo: 3 }),
        input({ conv: c2, replyTo: 1 }),
        input(),
      ],
      lastSeq,
    );
    expect(refs).toEqual([
      { conv: c1, seq: 3 },
      { conv: c1, seq: 5 },
      { conv: c2, seq: 1 },
    ]);
  });

  it('reads nothing for a conversation with no messages', () => {
    expect(parentLookups([input({ replyTo: 1 })], new Map([[c1, 0]]))).toEqual([]);
  });
});

describe('mentionLookups', () => {
  it('collects normalised mentions per conversation, each user once', () => {
    const wanted = mentionLookups([
      input({ mentions: [bob, alice] }),
      input({ mentions: [carol, bob] }),
      input({ conv: c2, sender: bob, mentions: [bob] }),
      input({ conv: c2, mentions: [carol] }),
    ]);
    expect([...wanted]).toEqual([
      [c1, [bob, carol]],
      [c2, [carol]],
    ]);
  });
});

describe('judgeAppend', () => {
  const parents = new Map([
    [refKey(c1, 2), { seq: 2 }],
    [refKey(c1, 4), { seq: 4, threadRoot: 2 }],
  ]);
  const members = new Set([memberKey(c1, alice), memberKey(c1, bob)]);

  it('accepts a plain message', () => {
    expect(judgeAppend(input(), 5, parents, members)).toEqual({ mentions: [] });
  });

  it('puts a reply in its parent’s thread (a reply to a reply joins the same root)', () => {
    expect(judgeAppend(input({ replyTo: 2 }), 5, parents, members)).toEqual({ threadRoot: 2, mentions: [] });
    expect(judgeAppend(input({ replyTo: 4 }), 5, parents, members)).toEqual({ threadRoot: 2, mentions: [] });
  });

  it('refuses a reply to no stored message, or to one of the same batch (bad_reply)', () => {
    expect(judgeAppend(input({ replyTo: 3 }), 5, parents, members)).toBe('bad_reply');
    expect(judgeAppend(input({ replyTo: 6 }), 5, parents, members)).toBe('bad_reply');
    // A parent found but past the snapshot's last seq cannot be: refused all the same.
    expect(judgeAppend(input({ replyTo: 4 }), 3, parents, members)).toBe('bad_reply');
    // Another conversation's message with that seq does not count.
    expect(judgeAppend(input({ conv: c2, replyTo: 2 }), 5, parents, members)).toBe('bad_reply');
  });

  it('refuses mentions of non-members (bad_mentions), after the reply check', () => {
    expect(judgeAppend(input({ mentions: [bob, carol] }), 5, parents, members)).toBe('bad_mentions');
    expect(judgeAppend(input({ replyTo: 9, mentions: [carol] }), 5, parents, members)).toBe('bad_reply');
  });

  it('drops the sender and repeats from the mentions', () => {
    expect(judgeAppend(input({ mentions: [bob, alice, bob] }), 5, parents, members)).toEqual({
      mentions: [bob],
    });
  });
});

describe('newMessageDoc', () => {
  const message: StoredMessage = {
    conv: c1,
    seq: 7,
    id: asMessageId('m7'),
    from: alice,
    body: 'hi',
    ts: 1000,
    clientMsgId: 'k',
  };

  it('writes a plain message with no optional field', () => {
    expect(newMessageDoc(message, input(), { mentions: [] })).toStrictEqual({
      _id: 'm7',
      conv: c1,
      seq: 7,
      sender: alice,
      clientMsgId: 'k',
      body: 'hi',
      ts: 1000,
    });
  });

  it('writes a reply and its mentions', () => {
    expect(newMessageDoc(message, input({ replyTo: 4 }), { threadRoot: 2, mentions: [bob] })).toStrictEqual({
      _id: 'm7',
      conv: c1,
      seq: 7,
      sender: alice,
      clientMsgId: 'k',
      body: 'hi',
      ts: 1000,
      replyTo: 4,
      threadRoot: 2,
      mentions: [bob],
    });
  });
});

describe('rootChanges', () => {
  function reply(conv: typeof c1, seq: number, threadRoot: number | undefined, ts: number): MessageDoc {
    const doc: MessageDoc = {
      _id: asMessageId(`${conv}-${seq}`),
      conv,
      seq,
      sender: alice,
      clientMsgId: `k${seq}`,
      body: '',
      ts,
    };
    if (threadRoot !== undefined) {
      doc.replyTo = threadRoot;
      doc.threadRoot = threadRoot;
    }
    return doc;
  }

  it('gives each reply the next changeSeq of its conversation, in seq order', () => {
    const docs = [
      reply(c1, 10, 2, 100),
      reply(c1, 11, undefined, 101),
      reply(c1, 12, 2, 102),
      reply(c2, 5, 1, 103),
      reply(c1, 13, 7, 104),
    ];
    expect([...repliesPerConversation(docs)]).toEqual([
      [c1, 3],
      [c2, 1],
    ]);
    // Counters after the batch raised them: c1 from 20 to 23, c2 from 0 to 1.
    const changes = rootChanges(
      docs,
      new Map([
        [c1, 23],
        [c2, 1],
      ]),
    );
    expect(changes).toEqual([
      { reply: 'c1-10', root: { conv: c1, seq: 2 }, changeSeq: 21, lastReplyAt: 100 },
      { reply: 'c1-12', root: { conv: c1, seq: 2 }, changeSeq: 22, lastReplyAt: 102 },
      { reply: 'c2-5', root: { conv: c2, seq: 1 }, changeSeq: 1, lastReplyAt: 103 },
      { reply: 'c1-13', root: { conv: c1, seq: 7 }, changeSeq: 23, lastReplyAt: 104 },
    ]);
  });

  it('is empty for a batch without replies', () => {
    expect(rootChanges([reply(c1, 1, undefined, 1)], new Map())).toEqual([]);
  });
});
