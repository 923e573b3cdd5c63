import { describe, expect, it } from 'vitest';
import { readServerFrame } from './frame-reader.js';

const conversation = {
  id: 'c1',
  kind: 'dm',
  name: null,
  lastSeq: 3,
  lastReadSeq: 1,
  unread: 2,
  memberCount: 2,
  members: [],
  lastMessage: null,
  lastActivityAt: 1,
  createdAt: 1,
};

describe('readServerFrame', () => {
  it.each([
    [
      'ready',
      {
        type: 'ready',
        v: 1,
        user: { id: 'u1', username: 'ann' },
        conversations: [conversation],
        online: ['u2'],
        serverTime: 5,
      },
    ],
    ['message', { type: 'message', conv: 'c1', seq: 1, id: 'm1', from: 'u1', body: 'hi', ts: 5 }],
    ['ack', { type: 'ack', clientMsgId: 'x', conv: 'c1', id: 'm1', seq: 1, ts: 5 }],
    ['typing', { type: 'typing', conv: 'c1', user: 'u2' }],
    ['presence', { type: 'presence', user: 'u2', status: 'offline' }],
    ['read', { type: 'read', conv: 'c1', seq: 0 }],
    ['conversation', { type: 'conversation', event: 'created', conversation }],
    ['error', { type: 'error', code: 'not_member', message: 'no', ref: 'x' }],
    ['pong', { type: 'pong', ref: 'hb:1', serverTime: 5 }],
    [
      'change',
      {
        type: 'change',
        conv: 'c1',
        changeSeq: 4,
        message: { conv: 'c1', seq: 2, id: 'm2', from: 'u1', body: 'hi!', ts: 5, editedAt: 6, changeSeq: 4 },
      },
    ],
    ['change_ack', { type: 'change_ack', ref: 'r1', conv: 'c1', seq: 2, changeSeq: 4 }],
    ['change_ack (a repeat: nothing changed)', { type: 'change_ack', ref: 'r1', conv: 'c1', seq: 2 }],
  ])('reads a well-formed %s frame', (_type, frame) => {
    expect(readServerFrame(JSON.stringify(frame))).toEqual({ kind: 'frame', frame });
  });

  it.each([
    ['change without a message', { type: 'change', conv: 'c1', changeSeq: 4 }],
    [
      'change of another conversation',
      {
        type: 'change',
        conv: 'c1',
        changeSeq: 4,
        message: { conv: 'c2', seq: 2, id: 'm2', from: 'u1', body: '', ts: 5, changeSeq: 4 },
      },
    ],
    [
      'change whose message says another changeSeq',
      {
        type: 'change',
        conv: 'c1',
        changeSeq: 4,
        message: { conv: 'c1', seq: 2, id: 'm2', from: 'u1', body: '', ts: 5, changeSeq: 3 },
      },
    ],
    ['change_ack without ref', { type: 'change_ack', conv: 'c1', seq: 2, changeSeq: 4 }],
    ['change_ack with changeSeq 0', { type: 'change_ack', ref: 'r', conv: 'c1', seq: 2, changeSeq: 0 }],
    [
      'ready with a bad lastChangeSeq',
      {
        type: 'ready',
        user: { id: 'u1' },
        conversations: [{ ...conversation, lastChangeSeq: -1 }],
        serverTime: 1,
      },
    ],
  ])('refuses a malformed frame: %s', (_what, frame) => {
    expect(readServerFrame(JSON.stringify(frame)).kind).toBe('invalid');
  });

  it("fills a change frame's message.changeSeq from the frame when the server left it out", () => {
    const message = { conv: 'c1', seq: 2, id: 'm2', from: 'u1', body: 'x', ts: 5 };
    const read = readServerFrame(JSON.stringify({ type: 'change', conv: 'c1', changeSeq: 7, message }));
    expect(read).toEqual({
      kind: 'frame',
      frame: { type: 'change', conv: 'c1', changeSeq: 7, message: { ...message, changeSeq: 7 } },
    });
  });

  it('reads binary text frames too', () => {
    const bytes = new TextEncoder().encode('{"type":"typing","conv":"c1","user":"u2"}');
    expect(readServerFrame(bytes).kind).toBe('frame');
    expect(readServerFrame(bytes.buffer).kind).toBe('frame');
  });

  it('passes over a frame type it does not know (a newer server)', () => {
    expect(readServerFrame('{"type":"reaction","x":1}')).toEqual({ kind: 'unknown', type: 'reaction' });
  });

  it('keeps an error frame with an unknown code as a non-retryable bad_request', () => {
    const result = readServerFrame('{"type":"error","code":"brand_new","message":"m","ref":"r"}');
    expect(result).toEqual({
      kind: 'frame',
      frame: { type: 'error', code: 'bad_request', message: 'm', ref: 'r' },
    });
  });

  it.each([
    ['not JSON', '{oops'],
    ['an array', '[1]'],
    ['null', 'null'],
    ['no type', '{"conv":"c1"}'],
    ['a message without seq', '{"type":"message","conv":"c1","id":"m","from":"u","body":"b","ts":1}'],
    ['a message with seq 0', '{"type":"message","conv":"c1","seq":0,"id":"m","from":"u","body":"b","ts":1}'],
    [
      'a message with a fractional seq',
      '{"type":"message","conv":"c1","seq":1.5,"id":"m","from":"u","body":"b","ts":1}',
    ],
    ['an ack with a string seq', '{"type":"ack","clientMsgId":"x","conv":"c1","id":"m","seq":"1","ts":1}'],
    [
      'a ready whose conversation has no lastSeq',
      '{"type":"ready","v":1,"user":{"id":"u"},"conversations":[{"id":"c"}],"serverTime":1}',
    ],
    ['a presence with an unknown status', '{"type":"presence","user":"u","status":"away"}'],
    ['a read with a negative seq', '{"type":"read","conv":"c1","seq":-1}'],
  ])('rejects %s as invalid', (_name, raw) => {
    expect(readServerFrame(raw).kind).toBe('invalid');
  });

  it('rejects data that is not text', () => {
    expect(readServerFrame(42).kind).toBe('invalid');
  });
});
