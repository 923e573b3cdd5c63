import { describe, expect, it } from 'vitest';
import { LIMITS, parseClientFrame } from './index.js';

describe('parseClientFrame', () => {
  it('accepts each well-formed client frame', () => {
    const frames = [
      { type: 'send', conv: 'c1', clientMsgId: 'm1', body: 'hi' },
      { type: 'typing', conv: 'c1' },
      { type: 'read', conv: 'c1', seq: 3 },
      { type: 'auth', token: 'a.b.c' },
      { type: 'ping', ref: 'r1' },
    ];
    for (const frame of frames) expect(parseClientFrame(JSON.stringify(frame))).toEqual({ ok: true, frame });
  });

  it.each([
    ['not JSON', '{nope', 'invalid_frame'],
    ['an array', '[1,2]', 'invalid_frame'],
    ['null', 'null', 'invalid_frame'],
    ['a string', '"send"', 'invalid_frame'],
    ['no type', '{"conv":"c"}', 'invalid_frame'],
    ['a numeric type', '{"type":5}', 'invalid_frame'],
    ['an unknown type', '{"type":"explode"}', 'unknown_frame_type'],
    ['a prototype key as type', '{"type":"__proto__"}', 'unknown_frame_type'],
    ['a constructor type', '{"type":"constructor"}', 'unknown_frame_type'],
    ['send without body', '{"type":"send","conv":"c","clientMsgId":"m"}', 'invalid_frame'],
    ['send with empty body', '{"type":"send","conv":"c","clientMsgId":"m","body":""}', 'invalid_frame'],
    ['send with numeric body', '{"type":"send","conv":"c","clientMsgId":"m","body":5}', 'invalid_frame'],
    [
      'send with extra field',
      '{"type":"send","conv":"c","clientMsgId":"m","body":"x","admin":true}',
      'invalid_frame',
    ],
    ['a __proto__ key', '{"type":"ping","__proto__":{"polluted":1}}', 'invalid_frame'],
    ['read with negative seq', '{"type":"read","conv":"c","seq":-1}', 'invalid_frame'],
    ['read with fractional seq', '{"type":"read","conv":"c","seq":1.5}', 'invalid_frame'],
    ['a conv id with a slash', '{"type":"typing","conv":"../x"}', 'invalid_frame'],
  ])('rejects %s', (_name, raw, code) => {
    const result = parseClientFrame(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.code).toBe(code);
  });

  it('rejects an oversized body and echoes the ref', () => {
    const raw = JSON.stringify({
      type: 'send',
      conv: 'c',
      clientMsgId: 'm',
      body: 'x'.repeat(LIMITS.maxBodyChars + 1),
      ref: 'r9',
    });
    expect(parseClientFrame(raw)).toMatchObject({ ok: false, code: 'invalid_frame', ref: 'r9' });
  });

  it('does not pollute Object.prototype', () => {
    parseClientFrame('{"type":"ping","__proto__":{"polluted":1}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
