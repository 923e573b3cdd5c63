import { describe, expect, it } from 'vitest';
import { LIMITS } from './constants.js';
import { normalizeName, normalizeTopic } from './text.js';

describe('normalizeName', () => {
  it('stores names NFKC-normalised and trimmed', () => {
    expect(normalizeName('  Ｔｒｉｐ ')).toEqual({ ok: true, name: 'Trip' });
  });

  it.each([
    '',
    '   ',
    'a\u202Eb',
    'zero\u200Bwidth',
    '\u3164',
    'x'.repeat(LIMITS.maxConversationNameChars + 1),
  ])('refuses %j', (raw) => {
    expect(normalizeName(raw).ok).toBe(false);
  });
});

describe('normalizeTopic', () => {
  it('keeps a topic NFKC-normalised and trimmed, with the emoji joiner', () => {
    expect(normalizeTopic('  Plans for ｊｕｎｅ 👩‍👩‍👧 ')).toEqual({
      ok: true,
      topic: 'Plans for june 👩‍👩‍👧',
    });
  });

  it('takes null, empty and blank as no topic', () => {
    for (const raw of [null, '', '   ']) expect(normalizeTopic(raw)).toEqual({ ok: true, topic: null });
  });

  it.each([
    'a\u202Eb',
    'zero\u200Bwidth',
    'two\nlines',
    'bell\u0007',
    '\u3164',
    'x'.repeat(LIMITS.maxTopicChars + 1),
  ])('refuses %j', (raw) => {
    expect(normalizeTopic(raw)).toMatchObject({ ok: false, problem: expect.any(String) });
  });

  it(`accepts ${LIMITS.maxTopicChars} characters`, () => {
    expect(normalizeTopic('x'.repeat(LIMITS.maxTopicChars)).ok).toBe(true);
  });
});
