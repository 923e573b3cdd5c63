import { asConversationId, asUserId } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { type BusEvent, decodeEvent, encodeEvent } from './events.js';

const frame = JSON.stringify({ type: 'message', body: 'a\tb\n"seq":9', seq: 4 });

describe('bus event envelope', () => {
  const events: BusEvent[] = [
    { kind: 'message', seq: 4, frame },
    { kind: 'change', changeSeq: 7, seq: 3, frame },
    { kind: 'typing', user: asUserId('u1'), frame },
    { kind: 'conversation', watch: [], frame },
    { kind: 'conversation', watch: [asUserId('u4'), asUserId('u5')], frame },
    { kind: 'settings', frame },
    { kind: 'read', origin: 'session-1', frame },
    {
      kind: 'joined',
      conv: asConversationId('c1'),
      convKind: 'group',
      contacts: [asUserId('u2'), asUserId('u3')],
      frame,
    },
    { kind: 'joined', conv: asConversationId('c2'), convKind: 'channel', contacts: [], frame },
    { kind: 'left', conv: asConversationId('c1'), frame },
    { kind: 'presence', user: asUserId('u1'), frame },
  ];

  it.each(events)('carries a $kind event’s routing facts beside its frame, unchanged', (event) => {
    expect(decodeEvent(encodeEvent(event))).toEqual(event);
  });

  it('takes the seq from the header, never from the frame text', () => {
    const decoded = decodeEvent(encodeEvent({ kind: 'message', seq: 12, frame: '{"seq":99}' }));
    expect(decoded).toEqual({ kind: 'message', seq: 12, frame: '{"seq":99}' });
  });

  it('takes a change’s changeSeq and seq from the header, never from the frame text', () => {
    const text = '{"type":"change","changeSeq":99,"message":{"seq":98}}';
    const decoded = decodeEvent(encodeEvent({ kind: 'change', changeSeq: 5, seq: 2, frame: text }));
    expect(decoded).toEqual({ kind: 'change', changeSeq: 5, seq: 2, frame: text });
  });

  it('reads an older replica’s conversation event, which has no watch list', () => {
    expect(decodeEvent(`c\n\n${frame}`)).toEqual({ kind: 'conversation', watch: [], frame });
  });

  it.each([
    '',
    'x\n\n{}',
    'm\nnot-a-number\n{}',
    'm\n0\n{}',
    'j\nc1\nnot-a-kind\n\n{}',
    't\n\n{}',
    'm',
    'e\n3\n{}',
    'e\n0\t1\n{}',
    'e\n2\tx\n{}',
  ])('refuses the malformed payload %j', (payload) => {
    expect(decodeEvent(payload)).toBeUndefined();
  });
});
