import { asConversationId, asMessageId, asUserId, type Message } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { NewestStates } from './newest-states.js';

const msg = (seq: number, changeSeq?: number, extra: Partial<Message> = {}): Message => ({
  conv: asConversationId('c1'),
  seq,
  id: asMessageId(`m${seq}`),
  from: asUserId('u1'),
  body: changeSeq === undefined ? 'first' : `edit ${changeSeq}`,
  ts: seq,
  ...(changeSeq === undefined ? {} : { changeSeq, editedAt: changeSeq }),
  ...extra,
});

describe('NewestStates', () => {
  it('delivers a message in the newest state a change showed before it, keeping its clientMsgId', () => {
    const states = new NewestStates();
    states.note(msg(2, 3));
    states.note(msg(2, 5));
    states.note(msg(2, 4)); // older: ignored
    expect(states.take(msg(2, undefined, { clientMsgId: 'x' }))).toEqual({ ...msg(2, 5), clientMsgId: 'x' });
    expect(states.size).toBe(0);
  });

  it('delivers the message as it is when nothing newer was seen', () => {
    const states = new NewestStates();
    expect(states.take(msg(1))).toEqual(msg(1));
    states.note(msg(1, 2));
    expect(states.take(msg(1, 3))).toEqual(msg(1, 3));
  });

  it('forgets states of earlier seqs once a later message is delivered, and per conversation', () => {
    const states = new NewestStates();
    states.note(msg(1, 1));
    states.note(msg(3, 2));
    states.take(msg(2));
    expect(states.size).toBe(1);
    states.forget(asConversationId('c1'));
    expect(states.size).toBe(0);
  });

  it('is bounded', () => {
    const states = new NewestStates({ max: 2 });
    for (let seq = 1; seq <= 5; seq++) states.note(msg(seq, seq));
    expect(states.size).toBe(2);
  });
});
